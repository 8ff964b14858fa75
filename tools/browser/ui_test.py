#!/usr/bin/env python3
"""The web UI in a real browser: Debian's chromium and chromedriver driven by selenium.

Starts `keelson serve` on a free port with a small fleet on the simulated runtime (application
`shop`: staging → canary → prod, an approval on prod; services `web` and `api`), then signs in and
checks what a person would see: the channels in promotion order with the promotion arrows, the
instances' statuses, an approval that moves prod from waiting to converging, live updates from the
event stream, the instance page, filters, a viewer who is offered no actions, a refused token, a
revoked token, and the page's security headers. Any console error of the page (a Content-Security-
Policy violation among them) fails the test.

    tools/browser/ui_test.py [--keelson PATH] [--screenshots DIR]

Screenshots of the board and of an instance page go to --screenshots (default: a new temporary
directory, printed at the end). Needs: chromium, chromium-driver (apt), selenium (pip).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

CONFIG = """\
kind: Runtime
name: sim
type: simulated
settings:
  applyLatency: 0s
  timeToHealthy: 1s
  fetchIntervalConverging: 1s
  fetchIntervalStable: 2s
  unhealthyVersions: [1.1.0-bad]
---
kind: Application
name: shop
channels:
  - name: staging
    runtime: sim
    rules: {watch: 2s}
  - name: canary
    runtime: sim
    after: [staging]
    rules:
      watch: 2s
      freezes:   # over before the test starts: shaded on the timeline
        - {from: "${FREEZE_FROM}", until: "${FREEZE_UNTIL}", reason: "load test"}
  - name: prod
    runtime: sim
    after: [canary]
    rules:
      watch: 2s
      approval: {approvers: 1}
      windows:   # open from yesterday to tomorrow (UTC): other days are shaded on a week's timeline
        - {days: [${OPEN_DAYS}], hours: "00:00-24:00", timeZone: UTC}
---
kind: Service
name: web
application: shop
progressDeadline: 5s
autoRollback: true
parameters:
  - name: version
    required: true
---
kind: Service
name: api
application: shop
parameters:
  - name: version
    required: true
"""

ARGS = None
SERVER = {}


def keelson(*arguments, check=True):
    result = subprocess.run([ARGS.keelson, *arguments, "--db", SERVER["db"]], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"keelson {' '.join(arguments)} failed: {result.stderr}")
    return result.stdout


def http(path, token=None, headers=None, method="GET", body=None):
    request = urllib.request.Request(SERVER["url"] + path, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def start_server():
    work = tempfile.mkdtemp(prefix="keelson-ui-")
    SERVER["work"] = work
    SERVER["db"] = os.path.join(work, "db", "keelson.db")
    config = os.path.join(work, "config")
    os.makedirs(config)
    now = datetime.datetime.now(datetime.timezone.utc)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    fill = {
        "FREEZE_FROM": (now - datetime.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "FREEZE_UNTIL": (now - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "OPEN_DAYS": ", ".join(days[(now.weekday() + shift) % 7] for shift in (-1, 0, 1)),
    }
    with open(os.path.join(config, "shop.yaml"), "w") as file:
        file.write(string.Template(CONFIG).substitute(fill))
    subprocess.run([ARGS.keelson, "apply", "-f", config, "--db", SERVER["db"]], check=True, capture_output=True, timeout=120)
    # A fixed port, so that the server can be restarted under the page's feet.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        SERVER["port"] = probe.getsockname()[1]
    serve()
    with open(os.path.join(work, "db", "admin.token")) as file:
        SERVER["admin"] = file.read().strip()
    SERVER["viewer"] = keelson("token", "create", "--role", "viewer", "--name", "ui-viewer").strip().splitlines()[-1].strip()
    SERVER["deployer"] = keelson("token", "create", "--role", "deployer", "--name", "ui-deployer").strip().splitlines()[-1].strip()


def serve():
    """Starts `keelson serve` on the database and port of the run; returns once it listens."""
    log = open(os.path.join(SERVER["work"], "serve.log"), "w")
    process = subprocess.Popen([ARGS.keelson, "serve", "--db", SERVER["db"], "--listen", f"127.0.0.1:{SERVER['port']}", "--log-level", "error"],
                               stdout=log, stderr=subprocess.STDOUT)
    SERVER["process"] = process
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(os.path.join(SERVER["work"], "serve.log")) as file:
            match = re.search(r"listening on (http://\S+)", file.read())
        if match:
            SERVER["url"] = match.group(1).rstrip("/")
            return process
        if process.poll() is not None:
            raise RuntimeError("keelson serve exited: " + open(os.path.join(SERVER["work"], "serve.log")).read())
        time.sleep(0.2)
    raise RuntimeError("keelson serve did not start within 60 s")


def stop_server():
    process = SERVER.get("process")
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    if SERVER.get("work"):
        shutil.rmtree(SERVER["work"], ignore_errors=True)


def browser():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(ARGS.chromedriver), options=options)


def wait(what, condition, timeout=30):
    """Polls `condition` until it returns something true; fails saying `what` otherwise."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = condition()
            if last:
                return last
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class UI(unittest.TestCase):
    def setUp(self):
        self.driver = browser()
        self.driver.get(SERVER["url"] + "/")

    def tearDown(self):
        # A refused token or request is logged by the browser as a failed load: the page says so
        # itself. Anything else severe (a script error, a policy violation) fails the test.
        # A test that stops the server expects the reads made while it is down to be refused.
        refused_too = getattr(self, "server_stopped", False)
        errors = [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"
                  and not (entry["source"] == "network" and re.search(r"status of 4\d\d", entry["message"]))
                  and not (refused_too and entry["source"] == "network" and "ERR_CONNECTION_REFUSED" in entry["message"])]
        self.driver.quit()
        self.assertEqual(errors, [], "the page logged errors")

    # helpers

    def sign_in(self, token):
        field = wait("the sign-in form", lambda: self.driver.find_element(By.ID, "token"))
        field.send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "form.sign-in button[type=submit]").click()

    def cell(self, instance):
        return self.driver.find_element(By.CSS_SELECTOR, f'td.cell[data-instance="{instance}"]')

    def status_of(self, instance):
        return self.cell(instance).get_attribute("data-status")

    def click(self, selector):
        """Clicks what `selector` finds, again when the page redrew it meanwhile."""
        def clicked():
            self.driver.find_element(By.CSS_SELECTOR, selector).click()
            return True
        wait(f"a click on {selector}", clicked)

    def shown_cells(self):
        """The instances whose cells a person sees (filters hide the others)."""
        return [cell.get_attribute("data-instance") for cell in self.driver.find_elements(By.CSS_SELECTOR, "td.cell")
                if cell.is_displayed() and "filtered-out" not in cell.get_attribute("class")]

    def visible_buttons(self):
        return [button.text for button in self.driver.find_elements(By.CSS_SELECTOR, "main button") if button.is_displayed()]

    def shot(self, name):
        path = os.path.join(ARGS.screenshots, name)
        self.driver.save_screenshot(path)
        return path

    # tests (unittest runs them in name order; each starts a new browser)

    def test_1_refuses_a_bad_token(self):
        self.sign_in("not-a-token")
        problem = wait("the sign-in error", lambda: self.driver.find_element(By.ID, "sign-in-error").text)
        self.assertIn("refused", problem)
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "table.board"), [])
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('keelson.token')"))

    def test_2_board_shows_channels_in_order_and_statuses(self):
        keelson("release", "shop/web", "--version", "1.0.0")
        self.sign_in(SERVER["admin"])
        wait("the shop board", lambda: self.driver.find_element(By.CSS_SELECTOR, 'section[data-application="shop"]'))
        headers = [th.get_attribute("data-channel") for th in self.driver.find_elements(By.CSS_SELECTOR, "th.channel-col")]
        self.assertEqual(headers, ["staging", "canary", "prod"])
        edges = {(edge.get_attribute("data-from"), edge.get_attribute("data-to"))
                 for edge in self.driver.find_elements(By.CSS_SELECTOR, "svg.stages path.edge")}
        self.assertEqual(edges, {("staging", "canary"), ("canary", "prod")})
        self.assertIn("admin (admin)", self.driver.find_element(By.ID, "who").text)
        # The rollout goes on live (no reload): staging and canary converge, prod waits for approval.
        wait("staging and canary converged", lambda: self.status_of("shop/web@staging") == "converged"
             and self.status_of("shop/web@canary") == "converged")
        wait("prod waiting for approval", lambda: "waiting: approval" in self.cell("shop/web@prod").text)
        self.assertIn("1.0.0", self.cell("shop/web@canary").text)
        self.assertEqual(self.driver.find_element(By.ID, "live").text, "live")
        self.shot("board.png")

    def test_3_approval_moves_prod_from_waiting_to_converging(self):
        self.sign_in(SERVER["deployer"])
        wait("prod waiting for approval", lambda: "waiting: approval" in self.cell("shop/web@prod").text)
        self.cell("shop/web@prod").find_element(By.CSS_SELECTOR, "button.approve").click()
        dialog = self.driver.find_element(By.ID, "confirm")
        self.assertTrue(dialog.is_displayed())
        self.assertIn("Approve 1.0.0 for shop/web@prod?", dialog.text)
        self.driver.find_element(By.ID, "confirm-comment").send_keys("looks good in canary")
        self.driver.find_element(By.ID, "confirm-ok").click()
        seen = set()
        def moved():
            status = self.status_of("shop/web@prod")
            seen.add(status)
            return status in ("converging", "converged")
        wait("prod converging after the approval", moved)
        wait("prod converged", lambda: self.status_of("shop/web@prod") == "converged")
        toast = self.driver.find_element(By.CSS_SELECTOR, ".toast").text
        self.assertRegex(toast, r"event #\d+")
        events = json.loads(http("/api/v1/events?type=ApprovalGranted", SERVER["admin"])[2])["events"]
        self.assertEqual([(e["actor"], e["payload"].get("comment")) for e in events], [("token:ui-deployer", "looks good in canary")])

    def test_4_live_updates_and_filters(self):
        self.sign_in(SERVER["admin"])
        wait("prod converged", lambda: self.status_of("shop/web@prod") == "converged")
        position = int(re.search(r"position (\d+)", self.driver.find_element(By.ID, "board-summary").text).group(1))
        status, _, _ = http("/api/v1/releases", SERVER["admin"], method="POST",
                            body={"application": "shop", "service": "api", "version": "2.0.0"})
        self.assertEqual(status, 200)
        wait("the api row to appear live", lambda: self.driver.find_elements(By.CSS_SELECTOR, 'tr[data-service="api"]'))
        wait("api converged in staging", lambda: self.status_of("shop/api@staging") == "converged")
        later = int(re.search(r"position (\d+)", self.driver.find_element(By.ID, "board-summary").text).group(1))
        self.assertGreater(later, position)
        wait("api@prod waiting for approval", lambda: "waiting: approval" in self.cell("shop/api@prod").text)
        Select(self.driver.find_element(By.ID, "filter-status")).select_by_value("waiting")
        shown = self.shown_cells
        wait("only waiting instances", lambda: shown() == ["shop/api@prod"])
        self.assertIn("status=waiting", self.driver.current_url)
        self.assertRegex(self.driver.find_element(By.ID, "board-summary").text, r"^1 of 6 instances")
        Select(self.driver.find_element(By.ID, "filter-status")).select_by_value("")
        field = self.driver.find_element(By.ID, "filter-service")
        field.send_keys("we")
        wait("only web", lambda: {instance.split("@")[0] for instance in self.shown_cells()} == {"shop/web"})
        self.assertEqual(len(self.shown_cells()), 3)

    def test_5_instance_page(self):
        self.sign_in(SERVER["admin"])
        link = wait("the prod cell", lambda: self.cell("shop/web@prod").find_element(By.CSS_SELECTOR, "a.status"))
        link.click()
        wait("the instance page", lambda: self.driver.find_element(By.TAG_NAME, "h1").text == "shop/web@prod")
        facts = wait("the facts", lambda: self.driver.find_element(By.ID, "instance-facts").text)
        self.assertIn("converged", facts)
        self.assertIn("1.0.0", facts)
        # The page re-renders when the instance's events arrive: each read finds its element
        # again (a reference kept across a re-render goes stale).
        kinds = wait("the timeline's kinds", lambda: [
            row.get_attribute("data-kind") for row in self.driver.find_elements(By.CSS_SELECTOR, "#instance-timeline tbody tr")])
        self.assertIn("approval", kinds)
        self.assertIn("decision", kinds)
        wait("the events", lambda: "DecisionMade" in self.driver.find_element(By.ID, "instance-events").text)
        wait("the view opened", lambda: self.driver.find_element(By.CSS_SELECTOR, "#instance-view summary").click() or True)
        wait("the view's JSON", lambda: '"desired"' in self.driver.find_element(By.CSS_SELECTOR, "#instance-view pre").get_attribute("textContent"))
        observed = wait("the observation", lambda: self.driver.find_element(By.ID, "instance-observation").text)
        self.assertIn("1.0.0", observed)
        self.assertIn("1/1", observed)
        self.assertIn("/instance/shop/web/prod", self.driver.current_url)
        self.shot("instance.png")
        self.driver.find_element(By.LINK_TEXT, "← Fleet").click()
        wait("back on the board", lambda: self.driver.find_elements(By.CSS_SELECTOR, "table.board"))

    def test_6_viewer_sees_no_actions(self):
        self.sign_in(SERVER["viewer"])
        wait("api@prod waiting for approval", lambda: "waiting: approval" in self.cell("shop/api@prod").text)
        self.assertIn("(viewer)", self.driver.find_element(By.ID, "who").text)
        self.assertEqual(self.visible_buttons(), [])
        self.cell("shop/web@prod").find_element(By.CSS_SELECTOR, "a.status").click()
        wait("the instance page", lambda: self.driver.find_element(By.ID, "instance-facts"))
        self.assertEqual(self.visible_buttons(), [])
        # And the API refuses it anyway.
        status, _, _ = http("/api/v1/instances/shop/api/prod/approve", SERVER["viewer"], method="POST", body={})
        self.assertEqual(status, 403)

    def test_7_a_revoked_token_signs_out(self):
        token = keelson("token", "create", "--role", "viewer", "--name", "ui-short-lived").strip().splitlines()[-1].strip()
        self.sign_in(token)
        wait("the board", lambda: self.driver.find_elements(By.CSS_SELECTOR, "table.board"))
        keelson("token", "revoke", "ui-short-lived")
        self.driver.refresh()
        problem = wait("the signed-out message", lambda: self.driver.find_element(By.ID, "sign-in-error").text)
        self.assertIn("no longer accepts", problem)
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('keelson.token')"))

    def test_7b_scrubbing_to_a_past_moment_shows_the_old_state(self):
        approvals = json.loads(http("/api/v1/events?type=ApprovalGranted", SERVER["admin"])[2])["events"]
        before = approvals[0]["position"] - 1  # just before web@prod's approval: it waited for one
        self.sign_in(SERVER["admin"])
        wait("prod converged now", lambda: self.status_of("shop/web@prod") == "converged")
        self.assertTrue(self.driver.find_element(By.ID, "as-of-banner").get_attribute("hidden") is not None)
        slider = self.driver.find_element(By.ID, "as-of")
        self.assertGreater(int(slider.get_attribute("max")), before)
        self.driver.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));", slider, str(before))
        wait("the board as it was", lambda: "waiting: approval" in self.cell("shop/web@prod").text)
        banner = self.driver.find_element(By.ID, "as-of-banner")
        self.assertTrue(banner.is_displayed())
        wait("the moment's time", lambda: f"(position {before})" in banner.text)
        self.assertIn(f"position={before}", self.driver.current_url)
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "button.approve"), [], "no actions in the past")
        self.assertIn(f"as of log position {before}", self.driver.find_element(By.ID, "board-summary").text)
        self.shot("board-past.png")
        # The instance page of that moment, then back to now.
        self.cell("shop/web@prod").find_element(By.CSS_SELECTOR, "a.status").click()
        facts = wait("the instance as it was", lambda: self.driver.find_element(By.ID, "instance-facts").text)
        self.assertIn("waiting: approval", facts)
        self.assertNotIn("approval", [row.get_attribute("data-kind") for row in self.driver.find_elements(By.CSS_SELECTOR, "#instance-timeline tbody tr")])
        self.driver.back()
        wait("the past board again", lambda: "waiting: approval" in self.cell("shop/web@prod").text)
        self.driver.find_element(By.ID, "as-of-now").click()
        wait("back to now", lambda: self.status_of("shop/web@prod") == "converged")
        self.assertNotIn("position=", self.driver.current_url)

    def test_8b_actions_on_the_instance_page(self):
        self.sign_in(SERVER["deployer"])
        self.driver.get(SERVER["url"] + "/#/instance/shop/api/staging")
        wait("the actions", lambda: self.driver.find_element(By.CSS_SELECTOR, "main .actions button.release"))
        self.assertEqual(set(self.visible_buttons()) >= {"Pause", "Resume", "Mark bad", "Release…"}, True, self.visible_buttons())

        def act(name, value=None, comment=None):
            self.click(f"main .actions button.{name}")  # the page redraws after each action
            dialog = wait("the dialog", lambda: self.driver.find_element(By.ID, "confirm").is_displayed() and self.driver.find_element(By.ID, "confirm"))
            if value is not None:
                self.driver.find_element(By.ID, "confirm-value").send_keys(value)
            if comment is not None:
                self.driver.find_element(By.ID, "confirm-comment").send_keys(comment)
            text = dialog.text
            self.driver.find_element(By.ID, "confirm-ok").click()
            wait("the result", lambda: any("event #" in t.text for t in self.driver.find_elements(By.CSS_SELECTOR, ".toast")))
            for toast in self.driver.find_elements(By.CSS_SELECTOR, ".toast"):
                self.driver.execute_script("arguments[0].remove()", toast)
            return text

        said = act("pause", comment="investigating")
        self.assertIn("Pause shop/api@staging?", said)
        said = act("resume")
        self.assertIn("Resume shop/api@staging?", said)
        said = act("release", value="2.0.1")
        self.assertIn("Release a version of shop/api", said)
        # Cancelling does nothing.
        self.click("main .actions button.pause")
        wait("the dialog", lambda: self.driver.find_element(By.ID, "confirm").is_displayed())
        self.driver.find_element(By.CSS_SELECTOR, "#confirm button[value=cancel]").click()
        events = json.loads(http("/api/v1/events?type=Paused&type=Resumed&type=ReleaseRequested&latest=true&limit=3", SERVER["admin"])[2])["events"]
        self.assertEqual([(e["type"], e["actor"]) for e in events],
                         [("Paused", "token:ui-deployer"), ("Resumed", "token:ui-deployer"), ("ReleaseRequested", "token:ui-deployer")])
        self.assertEqual(events[0]["payload"].get("reason"), "investigating")
        self.assertEqual(events[2]["payload"]["version"], "2.0.1")

    def test_9_timeline_picture(self):
        # A known scenario on top of what the tests before did: a bad release of web, which fails
        # its health in staging and is rolled back, and an alert that fires and resolves.
        self.assertEqual(http("/api/v1/releases", SERVER["admin"], method="POST",
                              body={"application": "shop", "service": "web", "version": "1.1.0-bad"})[0], 200)
        self.assertEqual(http("/api/v1/alerts", SERVER["admin"], method="POST",
                              body={"name": "HighErrorRate", "labels": {"app": "shop"}, "firing": True})[0], 200)
        self.sign_in(SERVER["admin"])
        wait("web rolled back in staging", lambda: self.status_of("shop/web@staging") == "rolledBack", timeout=90)
        self.assertEqual(http("/api/v1/alerts", SERVER["admin"], method="POST",
                              body={"name": "HighErrorRate", "labels": {"app": "shop"}, "firing": False})[0], 200)
        self.driver.find_element(By.CSS_SELECTOR, 'section[data-application="shop"] a.app-links').click()
        # The first window, 6h, shows canary's freeze of three hours ago; a week shows prod's closed days.
        wait("canary's freeze", lambda: self.driver.find_element(
            By.CSS_SELECTOR, '#timeline-picture[data-span="21600000"] rect.shade-freeze[data-channel="canary"]'))
        self.driver.find_element(By.CSS_SELECTOR, 'button[data-span="7d"]').click()
        closed = wait("prod's closed days", lambda: self.driver.find_elements(By.CSS_SELECTOR, '#timeline-picture[data-span="604800000"] rect.shade-closed[data-channel="prod"]'))
        self.assertFalse(self.driver.find_elements(By.CSS_SELECTOR, '#timeline-picture rect.shade-closed:not([data-channel="prod"])'))
        self.assertIn("outside the allowed windows", closed[0].find_element(By.TAG_NAME, "title").get_attribute("textContent"))
        self.driver.find_element(By.CSS_SELECTOR, 'button[data-span="1h"]').click()
        svg = wait("the 1h window drawn", lambda: self.driver.find_element(By.CSS_SELECTOR, '#timeline-picture[data-span="3600000"] svg.timeline-svg'))
        labels = [t.text for t in svg.find_elements(By.CSS_SELECTOR, "text.lane-label")]
        released = sorted({e["instance"].split("/")[1].split("@")[0] for e in json.loads(http("/api/v1/status", SERVER["admin"])[2])["instances"]})
        self.assertEqual(labels, [f"{c} · {s}" for c in ["staging", "canary", "prod"] for s in released])
        def bars(instance):
            return [(b.get_attribute("data-status"), b.get_attribute("data-version"))
                    for b in svg.find_elements(By.CSS_SELECTOR, f'rect.bar[data-instance="{instance}"]')]
        self.assertIn(("converged", "1.0.0"), bars("shop/web@prod"))
        self.assertIn(("waiting", "1.0.0"), bars("shop/web@prod"), "prod waited for its approval")
        staging = bars("shop/web@staging")
        self.assertIn(("converging", "1.1.0-bad"), staging)
        self.assertTrue(any(status in ("rollingBack", "failed") for status, _ in staging), staging)
        def kinds(instance):
            return {m.get_attribute("data-kind") for m in svg.find_elements(By.CSS_SELECTOR, f'text.marker[data-instance="{instance}"]')}
        self.assertIn("approval", kinds("shop/web@prod"))
        self.assertIn("release", kinds("shop/web@staging"))
        self.assertTrue({"bad", "rollback"} & kinds("shop/web@staging"), kinds("shop/web@staging"))
        alert_lines = svg.find_elements(By.CSS_SELECTOR, "line.alert-line")
        self.assertEqual(sorted(line.get_attribute("class") for line in alert_lines), ["alert-line firing", "alert-line resolved"])
        ticks = svg.find_elements(By.CSS_SELECTOR, "line.tick")
        self.assertTrue(ticks and all(t.find_element(By.TAG_NAME, "title").get_attribute("textContent").startswith("#") for t in ticks[:5]))
        self.assertRegex(self.driver.find_element(By.ID, "timeline-summary").text, rf"^{3 * len(released)} instances, \d+ entries")
        # Fit zooms to the entries: the bars spread over the picture.
        self.driver.find_element(By.CSS_SELECTOR, 'button[data-action="fit"]').click()
        svg = wait("the fitted picture", lambda: self.driver.find_element(By.CSS_SELECTOR, '#timeline-picture:not([data-span="3600000"]) svg.timeline-svg'))
        xs = [float(b.get_attribute("x")) for b in svg.find_elements(By.CSS_SELECTOR, "rect.bar")]
        self.assertGreater(max(xs) - min(xs), 300, "spread over the width")
        self.shot("timeline.png")
        # Panning to an earlier window that holds nothing leaves the lanes, without bars of that time.
        self.driver.find_element(By.CSS_SELECTOR, 'button[data-action="earlier"]').click()
        self.driver.find_element(By.CSS_SELECTOR, 'button[data-action="earlier"]').click()
        wait("an earlier window", lambda: "end=" in self.driver.current_url)
        self.driver.find_element(By.CSS_SELECTOR, 'button[data-action="now"]').click()
        wait("back to now", lambda: "end=" not in self.driver.current_url)
        # The instance page of web@staging: its desired state, and what changed since the one before.
        self.driver.get(SERVER["url"] + "/#/instance/shop/web/staging")
        changes = wait("the desired state's changes", lambda: self.driver.find_element(By.ID, "instance-diff").text)
        self.assertRegex(changes, r"\+ .*1\.1\.0-bad")
        self.assertRegex(changes, r"- .*1\.0\.0")

    def test_7c_odd_addresses_say_what_is_wrong(self):
        self.sign_in(SERVER["viewer"])
        wait("the board", lambda: self.driver.find_elements(By.CSS_SELECTOR, "table.board"))
        for address, said in [
            ("#/instance/%3Cb%3Ex%3C%2Fb%3E/web/prod", "Could not read"),
            ("#/instance/shop/web/nowhere", "unknown release channel"),
            ("#/timeline?application=nope", "Could not read the timeline"),
            ("#/timeline?application=shop&span=1e300&end=-5", "instances,"),
            ("#/timeline?application=shop&span=-1&end=99999999999999999999", "instances,"),
            ("#/?position=" + "9" * 40 + "&status=<script>", "instance"),
            ("#/no/such/page", "There is no such page"),
        ]:
            self.driver.get(SERVER["url"] + "/" + address)
            wait(f"{address} to say {said!r}", lambda: said in self.driver.find_element(By.TAG_NAME, "main").text)
            self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "main b"), [], "nothing from the address becomes markup")

    def test_8c_the_board_reconnects_after_the_server_restarts(self):
        self.sign_in(SERVER["admin"])
        wait("live", lambda: self.driver.find_element(By.ID, "live").text == "live")
        wait("api@staging on 2.0.1", lambda: "2.0.1" in self.cell("shop/api@staging").text)
        process = SERVER["process"]
        self.server_stopped = True
        process.terminate()
        process.wait(timeout=60)
        wait("reconnecting", lambda: self.driver.find_element(By.ID, "live").text == "reconnecting…")
        # Recorded while the server is down: the board gets it once it reconnects (Last-Event-ID).
        keelson("release", "shop/api", "--version", "2.0.2")
        serve()
        wait("live again", lambda: self.driver.find_element(By.ID, "live").text == "live", timeout=60)
        wait("api@staging on 2.0.2, without a reload", lambda: "2.0.2" in self.cell("shop/api@staging").text, timeout=60)

    def test_8_headers_and_caching(self):
        status, headers, body = http("/")
        self.assertEqual(status, 200)
        self.assertIn(b"<script type=\"module\" src=\"/ui/app.js\">", body)
        policy = headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", policy)
        self.assertIn("script-src 'self'", policy)
        self.assertNotIn("unsafe", policy)
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        status, headers, _ = http("/ui/board.js")
        self.assertEqual((status, headers["Content-Type"]), (200, "text/javascript; charset=utf-8"))
        status, _, body = http("/ui/board.js", headers={"If-None-Match": headers["ETag"]})
        self.assertEqual((status, body), (304, b""))
        self.assertEqual(http("/ui/../keelson.db")[0], 404)
        self.assertEqual(http("/api/v1/status")[0], 401)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keelson", default=".build/debug/keelson")
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    parser.add_argument("--screenshots", default=None)
    ARGS, rest = parser.parse_known_args()
    ARGS.keelson = os.path.abspath(ARGS.keelson)
    ARGS.screenshots = ARGS.screenshots or tempfile.mkdtemp(prefix="keelson-ui-screenshots-")
    os.makedirs(ARGS.screenshots, exist_ok=True)
    start_server()
    try:
        program = unittest.main(argv=[sys.argv[0], "-v", *rest], exit=False)
    finally:
        stop_server()
    print(f"screenshots: {ARGS.screenshots}")
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
