"""Screenshot of the `hrm serve` page for the README: start the server, pick a held-out example in headless
Chromium, solve it with more segments than training used, show one segment, save a PNG.

    python docs/screenshot.py RUN_DIR docs/serve.png --example 1 --segments 8 --segment 3
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("out")
    parser.add_argument("--example", type=int, default=0, help="index in the page's example list")
    parser.add_argument("--segments", type=int, default=8, help="ACT segments to run")
    parser.add_argument("--segment", type=int, help="segment to show (default: the last)")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    server = subprocess.Popen([sys.executable, "-u", "-m", "hrmkit.cli", "serve", args.run, "--port", "0"], stdout=subprocess.PIPE, text=True)
    browser = None
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                raise SystemExit("hrm serve exited")
            if m := re.search(r"serving on (http://\S+/)", line):
                url = m.group(1)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,860", "--hide-scrollbars"):
            options.add_argument(arg)
        browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        wait = WebDriverWait(browser, 60)
        browser.get(url)
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready=true]")))
        Select(browser.find_element(By.ID, "examples")).select_by_index(args.example + 1)  # option 0 is "type your own"
        steps = browser.find_element(By.ID, "steps")
        steps.send_keys(Keys.CONTROL, "a")
        steps.send_keys(str(args.segments))
        browser.find_element(By.ID, "solve").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-state=solved]")))
        if args.segment:
            slider = browser.find_element(By.ID, "segment")
            slider.send_keys(Keys.HOME)
            for _ in range(args.segment - 1):
                slider.send_keys(Keys.ARROW_RIGHT)
        browser.save_screenshot(args.out)
        print(args.out)
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
