#!/usr/bin/env python3
"""The fleet board at scale, measured in a real browser (headless chromium through selenium).

Seeds a fleet — one application, SERVICES services × 5 channels in order (2,000 × 5 = 10,000
instances by default) on a simulated runtime with no latency — releases 1.0.0 of every service, lets
`keelson serve` roll it out for a while, then signs in and measures what a person waits for:

- `GET /api/v1/status` of every instance (the board's one read), from Python, median of 5;
- the time from pressing *Sign in* to every cell on the board, and the board's DOM size;
- a filter change (status = converged) and back: the page's own work, timed in the page;
- the JS heap after the first render.

    tools/browser/board_scale.py [--keelson PATH] [--services 2000] [--settle 120]

Prints one line per figure, and the same as a Markdown table.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHANNELS = ["c1", "c2", "c3", "c4", "c5"]


def config(services):
    text = "kind: Runtime\nname: sim\ntype: simulated\nsettings: {applyLatency: 0s, timeToHealthy: 0s}\n---\nkind: Application\nname: fleet\nchannels:\n"
    for index, channel in enumerate(CHANNELS):
        after = "" if index == 0 else f", after: [{CHANNELS[index - 1]}]"
        text += f"  - {{name: {channel}, runtime: sim{after}, rules: {{watch: 0s}}}}\n"
    for index in range(services):
        text += f"---\nkind: Service\nname: svc-{index}\napplication: fleet\nparameters:\n  - {{name: version, required: true}}\nrun: {{simulated: {{}}}}\n"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keelson", default=".build/debug/keelson")
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--settle", type=float, default=120, help="seconds to let the rollout run before measuring (at most)")
    args = parser.parse_args()
    keelson = os.path.abspath(args.keelson)
    instances = args.services * len(CHANNELS)
    work = tempfile.mkdtemp(prefix="keelson-board-scale-")
    db = os.path.join(work, "db", "keelson.db")
    os.makedirs(os.path.join(work, "config"))
    with open(os.path.join(work, "config", "fleet.yaml"), "w") as file:
        file.write(config(args.services))
    server = None
    driver = None
    try:
        subprocess.run([keelson, "apply", "-f", os.path.join(work, "config"), "--db", db], check=True, capture_output=True)
        subprocess.run([keelson, "release", "fleet", "--version", "1.0.0", "--db", db], check=True, capture_output=True)
        log = open(os.path.join(work, "serve.log"), "w")
        server = subprocess.Popen([keelson, "serve", "--db", db, "--listen", "127.0.0.1:0", "--log-level", "error"], stdout=log, stderr=subprocess.STDOUT)
        url = None
        for _ in range(600):
            match = re.search(r"listening on (http://\S+)", open(os.path.join(work, "serve.log")).read())
            if match:
                url = match.group(1).rstrip("/")
                break
            time.sleep(0.1)
        if not url:
            sys.exit("keelson serve did not start")
        token = open(os.path.join(work, "db", "admin.token")).read().strip()

        def status():
            request = urllib.request.Request(url + "/api/v1/status", headers={"Authorization": f"Bearer {token}"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                body = json.load(response)
            return time.perf_counter() - started, body

        deadline = time.time() + args.settle
        while True:
            _, body = status()
            counts = {}
            for entry in body["instances"]:
                counts[entry["status"]] = counts.get(entry["status"], 0) + 1
            if counts.get("converged", 0) == instances or time.time() > deadline:
                break
            time.sleep(5)
        state = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
        print(f"fleet: {instances} instances ({state})")
        timings = [status()[0] for _ in range(5)]
        api = statistics.median(timings)
        print(f"GET /api/v1/status ({len(body['instances'])} instances): median {api * 1000:.0f} ms of 5")

        options = webdriver.ChromeOptions()
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"]:
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
        driver.set_script_timeout(300)
        driver.get(url + "/")
        driver.find_element(By.ID, "token").send_keys(token)
        started = time.perf_counter()
        driver.find_element(By.CSS_SELECTOR, "form.sign-in button[type=submit]").click()
        while driver.execute_script("return document.querySelectorAll('td.cell').length") < instances:
            if time.perf_counter() - started > 300:
                sys.exit("the board did not show every instance within 300 s")
            time.sleep(0.05)
        first = time.perf_counter() - started
        elements = driver.execute_script("return document.getElementsByTagName('*').length")
        heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : 0")
        print(f"sign in → every cell drawn: {first:.2f} s; DOM: {elements} elements; JS heap {heap / 2**20:.0f} MiB")
        filtering = driver.execute_script("""
            const select = document.getElementById('filter-status');
            const times = [];
            for (const value of ['converged', '', 'waiting', '']) {
              const t = performance.now();
              select.value = value;
              select.dispatchEvent(new Event('change'));
              document.body.offsetHeight; // layout included
              times.push(performance.now() - t);
            }
            return times;""")
        said = ", ".join(f"{t:.0f}" for t in filtering)
        print(f"filter status=converged, back to all, =waiting, back: {said} ms (script and layout)")
        print()
        print("| Measurement | Value |")
        print("|---|---|")
        print(f"| Fleet | {instances} instances ({state}) |")
        print(f"| `GET /api/v1/status`, every instance | median {api * 1000:.0f} ms of 5 |")
        print(f"| Sign in → every cell drawn | {first:.2f} s |")
        print(f"| DOM size | {elements} elements |")
        print(f"| JS heap after the first render | {heap / 2**20:.0f} MiB |")
        print(f"| Filter changes (to converged, all, waiting, all) | {said} ms |")
    finally:
        if driver:
            driver.quit()
        if server:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
