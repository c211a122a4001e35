"""The data browser at /ui, driven in Debian's headless Chromium as a person uses it.

Everything goes through the page by role and accessible name: links named by keys and
folders, the fields "Prefix", "Key", "TTL (seconds)" and "Token", the editor "Value", the
buttons. The app is served over real HTTP with the demo's tree, once at the root and once
behind the `/dev` stage prefix; what "someone else" does, they do through the API over HTTP,
behind the page's back. Every test ends by checking that the page printed no console error
(but Chromium's own report of a status the test expects, such as the 412 of a conflict),
requested nothing outside the service (or outside the stage), and had no request fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from flask import Flask

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.grants import Grant
from kvstore.settings import Settings, parse_api_keys
from kvstore.ui import CONTENT_SECURITY_POLICY
from tests.browser import TIMEOUT_MS, PageLog, Service, chromium, seed_tree, served
from tests.ui_screenshot import VIEWPORT, screenshot

pytestmark = pytest.mark.slow

WRITER, READER = "writer-token", "reader-token"
HOSTILE_KEY = "<img src=x onerror=alert(1)>"
HOSTILE_FOLDER_KEY = "<script>alert(1)</script>"  # its "/" makes a folder "<script>alert(1)</"
HOSTILE_VALUE = "<script>document.title = 'owned'</script>"
MANY = 120  # keys under many/: more than one page of 100
PROBE = "kvstore-ui-write-probe"  # the key of the page's write probe (kvstore/ui/api.js)
SPORTS_PRETTY = '[\n  "baseball",\n  "hockey",\n  "football"\n]'


def make_app(api_keys: tuple[Grant, ...] = ()) -> Flask:
    datastore = MemoryDatastore()
    seed_tree(datastore)
    for number in range(MANY):
        datastore.put(f"many/k{number:03d}", number)
    datastore.put(HOSTILE_KEY, HOSTILE_VALUE)
    datastore.put(HOSTILE_FOLDER_KEY, HOSTILE_VALUE)
    settings = Settings(datastore="memory", log_level="WARNING", api_keys=api_keys)
    return create_app(settings, datastore=datastore)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture(params=["root", "stage"])
def staged(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "stage")


@pytest.fixture
def api_keys() -> tuple[Grant, ...]:
    """No API keys: the service is open (a test overrides this to need tokens)."""
    return ()


@pytest.fixture
def service(staged: bool, api_keys: tuple[Grant, ...]) -> Iterator[Service]:
    with served(make_app(api_keys), staged=staged) as service:
        yield service


@dataclass
class UI:
    """The page in a tab of its own, what it logged, and the service behind it."""

    page: Any
    log: PageLog
    service: Service
    dialogs: list[str] = field(default_factory=list)  # the messages of confirm()s shown
    answers: list[bool] = field(default_factory=list)  # how the next confirm()s are answered

    def goto(self, path: str = "/ui") -> Any:
        response = self.page.goto(self.service.root + path)
        assert response is not None
        assert response.status == 200
        return response

    @property
    def entries(self) -> Any:
        """The links of the folder being shown, folders first."""
        return self.page.get_by_role("table").get_by_role("link")

    def link(self, name: str) -> Any:
        return self.page.get_by_role("table").get_by_role("link", name=name, exact=True)

    def cells(self, name: str) -> Any:
        """The cells of the row of the link `name`: name, version, updated, expires."""
        link = self.page.get_by_role("link", name=name, exact=True)
        row = self.page.get_by_role("table").get_by_role("row").filter(has=link)
        return row.get_by_role("cell")

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name, exact=True)

    def field(self, label: str) -> Any:
        return self.page.get_by_label(label, exact=True)

    def meta(self, term: str) -> Any:
        """What the item's panel says next to `term` (Version, Updated, Expires)."""
        dt = self.page.locator("dt", has_text=term)
        return dt.locator("xpath=following-sibling::dd[1]")

    @property
    def status(self) -> Any:
        return self.page.get_by_role("status")

    @property
    def alert(self) -> Any:
        return self.page.get_by_role("alert").filter(has_text=re.compile("."))

    def url(self, path: str) -> str:
        return f"{self.service.root}/v1/{path}"

    def api(self, method: str, key: str, token: str | None = None, **kwargs: Any) -> Any:
        """Someone else, through the API over HTTP."""
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self.url("key/" + quote(key, safe="/"))
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    def sent(self, method: str) -> list[str]:
        return [url for sent, url in self.log.requests if sent == method]

    def assert_clean(self, expected: Collection[tuple[int, str]] = ()) -> None:
        assert self.log.unexpected_errors(expected) == []
        assert self.log.outside(self.service.root) == [], "requests outside the service"
        assert self.log.failed == []


@pytest.fixture
def ui(browser_context: Any, service: Service) -> Iterator[UI]:
    page = browser_context.new_page()
    ui = UI(page, PageLog.of(page), service)

    def on_dialog(dialog: Any) -> None:
        ui.dialogs.append(dialog.message)
        if ui.answers and ui.answers.pop(0):
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield ui
    finally:
        page.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_slash_leads_to_the_page_which_loads_only_from_the_service(ui: UI) -> None:
    response = ui.goto("/")
    assert ui.page.url == f"{ui.service.root}/ui"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    expect(ui.link("sports")).to_be_visible()
    ui.page.wait_for_load_state("networkidle")

    root = urlsplit(ui.service.root).path
    paths = [urlsplit(url).path for url in ui.log.urls]
    assert paths[0] == f"{root}/", "the first request, redirected to the page"
    assert {f"{root}/ui/app.js", f"{root}/ui/ui.css", f"{root}/ui/icon.svg"} <= set(paths)
    assert all(path.startswith((f"{root}/ui", f"{root}/v1/")) for path in paths[1:]), paths
    assert ui.page.title() == "kvstore"
    ui.assert_clean()


def test_browse_three_levels_then_edit_and_save_sports(ui: UI) -> None:
    ui.goto()
    expect(ui.entries).to_have_text(
        ["<script>alert(1)</", "many/", "sports/", HOSTILE_KEY, "motto", "sports"]
    )
    expect(ui.cells("sports").nth(3)).to_have_text("never")
    expect(ui.cells("motto").nth(3)).to_contain_text("UTC")  # it expires

    ui.link("sports/").click()
    expect(ui.entries).to_have_text(["baseball/", "baseball", "football", "hockey"])
    ui.link("baseball/").click()
    expect(ui.entries).to_have_text(["cubs", "yankees"])
    folder = ui.page.get_by_role("navigation", name="Folder")
    expect(folder.get_by_role("link")).to_have_text(["All keys", "sports/"])
    ui.link("yankees").click()
    expect(ui.page.get_by_role("heading", name="sports/baseball/yankees")).to_be_visible()
    expect(ui.field("Value")).to_have_value('{\n  "city": "New York",\n  "founded": 1901\n}')

    folder.get_by_role("link", name="All keys").click()
    ui.link("sports").click()
    expect(ui.page.get_by_role("heading", name="sports", exact=True)).to_be_visible()
    expect(ui.field("Value")).to_have_value(SPORTS_PRETTY)
    expect(ui.meta("Version")).to_have_text("1")
    expect(ui.meta("Expires")).to_have_text("never")

    ui.field("Value").fill('["baseball", "hockey", "football", "curling"]')
    ui.button("Save").click()
    expect(ui.status).to_have_text("Saved “sports”: version 2.")
    expect(ui.meta("Version")).to_have_text("2")
    expect(ui.cells("sports").nth(1)).to_have_text("2")
    expect(ui.field("Value")).to_have_value(
        '[\n  "baseball",\n  "hockey",\n  "football",\n  "curling"\n]'
    )
    stored = ui.api("GET", "sports").json()
    assert stored["value"] == ["baseball", "hockey", "football", "curling"]
    assert stored["version"] == 2
    ui.assert_clean()


def test_prefix_filter_and_paging_by_cursors(ui: UI) -> None:
    ui.goto()
    expect(ui.link("sports/")).to_be_visible()  # the first listing set the field: now type
    ui.field("Prefix").fill("many/k11")
    ui.button("Filter").click()
    expect(ui.entries).to_have_text([f"k11{digit}" for digit in range(10)])

    ui.field("Prefix").fill("many/")
    ui.field("Prefix").press("Enter")
    expect(ui.entries).to_have_count(100)
    expect(ui.entries.first).to_have_text("k000")
    expect(ui.entries.last).to_have_text("k099")
    expect(ui.button("Previous page")).to_be_disabled()

    ui.button("Next page").click()
    expect(ui.entries).to_have_text([f"k{number}" for number in range(100, MANY)])
    expect(ui.button("Next page")).to_be_disabled()
    assert any("cursor=" in url for url in ui.sent("GET")), "the next page follows a cursor"

    ui.button("Previous page").click()
    expect(ui.entries).to_have_count(100)
    expect(ui.entries.first).to_have_text("k000")
    ui.assert_clean()


def test_invalid_json_is_refused_before_sending(ui: UI) -> None:
    ui.goto("/ui#key=sports")
    expect(ui.field("Value")).to_have_value(SPORTS_PRETTY)
    ui.field("Value").fill('["baseball", "hockey"')
    ui.button("Save").click()

    expect(ui.field("Value")).to_have_attribute("aria-invalid", "true")
    expect(ui.field("Value")).to_have_accessible_description(re.compile("^Not valid JSON"))
    assert ui.sent("PUT") == []
    assert ui.api("GET", "sports").json()["version"] == 1

    ui.field("Value").fill('["baseball", "hockey"]')  # fixed: the complaint goes
    expect(ui.field("Value")).to_have_attribute("aria-invalid", "false")
    ui.assert_clean()


def start_a_conflict(ui: UI) -> None:
    """`sports` open and edited in the page; meanwhile someone else writes it (version 2)."""
    ui.goto("/ui#key=sports")
    expect(ui.meta("Version")).to_have_text("1")
    ui.field("Value").fill('["mine"]')
    behind = ui.api("PUT", "sports", json={"value": ["theirs"]}, headers={"If-Match": '"1"'})
    assert behind.status_code == 200
    ui.button("Save").click()
    expect(ui.alert).to_contain_text(
        "Someone else changed “sports” since you loaded it: it is now at version 2."
    )
    expect(ui.page.get_by_label("Their version")).to_have_text('[\n  "theirs"\n]')
    expect(ui.field("Value")).to_have_value('["mine"]')  # the edit is kept


def test_conflict_then_overwrite_saves_over_their_version(ui: UI) -> None:
    start_a_conflict(ui)
    ui.button("Overwrite").click()

    expect(ui.meta("Version")).to_have_text("3")
    expect(ui.button("Overwrite")).to_be_hidden()
    stored = ui.api("GET", "sports").json()
    assert (stored["value"], stored["version"]) == (["mine"], 3)
    ui.assert_clean({(412, ui.url("key/sports"))})


def test_conflict_then_reload_shows_their_version(ui: UI) -> None:
    start_a_conflict(ui)
    ui.button("Reload").click()

    expect(ui.field("Value")).to_have_value('[\n  "theirs"\n]')
    expect(ui.meta("Version")).to_have_text("2")
    expect(ui.button("Reload")).to_be_hidden()
    stored = ui.api("GET", "sports").json()
    assert (stored["value"], stored["version"]) == (["theirs"], 2)
    ui.assert_clean({(412, ui.url("key/sports"))})


def test_conflict_with_a_delete_then_overwrite_creates_it_again(ui: UI) -> None:
    ui.goto("/ui#key=motto")
    expect(ui.meta("Version")).to_have_text("1")
    ui.field("Value").fill('"Play on!"')
    assert ui.api("DELETE", "motto").status_code == 204
    ui.button("Save").click()
    expect(ui.alert).to_contain_text("Someone else deleted “motto” since you loaded it.")
    ui.button("Overwrite").click()

    # The panel showed version 1 before the overwrite too: wait for the page's own word.
    expect(ui.status).to_have_text("Saved “motto”: version 1.")
    expect(ui.meta("Version")).to_have_text("1")
    expect(ui.button("Overwrite")).to_be_hidden()
    stored = ui.api("GET", "motto").json()
    assert stored["value"] == "Play on!"
    url = ui.url("key/motto")
    ui.assert_clean({(412, url), (404, url)})


def test_create_a_key_with_a_ttl(ui: UI) -> None:
    ui.goto("/ui#prefix=sports%2F")
    expect(ui.link("hockey")).to_be_visible()
    ui.button("New key").click()
    expect(ui.field("Key")).to_have_value("sports/")
    ui.field("Key").fill("sports/curling")
    ui.field("TTL (seconds)").fill("3600")
    ui.field("Value").fill('["Team Homan", "Team Jacobs"]')
    ui.button("Save").click()

    expect(ui.status).to_have_text("Created “sports/curling”.")
    expect(ui.page.get_by_role("heading", name="sports/curling")).to_be_visible()
    expect(ui.meta("Version")).to_have_text("1")
    expect(ui.meta("Expires")).to_contain_text("UTC")
    expect(ui.link("curling")).to_be_visible()
    stored = ui.api("GET", "sports/curling").json()
    assert stored["value"] == ["Team Homan", "Team Jacobs"]
    lifetime = moment(stored["expires_at"]) - moment(stored["updated_at"])
    assert abs(lifetime - 3600) < 0.01

    ui.button("New key").click()
    ui.field("Key").fill("sports/curling")
    ui.field("Value").fill("[]")
    ui.button("Save").click()
    expect(ui.alert).to_have_text("A key named “sports/curling” already exists.")
    assert ui.api("GET", "sports/curling").json()["value"] == ["Team Homan", "Team Jacobs"]
    ui.assert_clean({(409, ui.url("key"))})


def moment(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()


def test_delete_only_after_confirmation(ui: UI) -> None:
    ui.goto()
    ui.link("motto").click()
    expect(ui.field("Value")).to_have_value('"Play ball!"')

    ui.answers.append(False)
    ui.button("Delete").click()
    expect(ui.button("Delete")).to_be_visible()
    assert ui.dialogs == ["Delete the key “motto”? This cannot be undone."]
    assert ui.api("GET", "motto").status_code == 200

    ui.answers.append(True)
    ui.button("Delete").click()
    expect(ui.status).to_have_text("Deleted “motto”.")
    expect(ui.link("motto")).to_have_count(0)
    expect(ui.field("Value")).to_be_hidden()
    assert ui.api("GET", "motto").status_code == 404
    ui.assert_clean()


def test_a_hostile_key_and_value_show_as_text(ui: UI) -> None:
    ui.goto()
    ui.link(HOSTILE_KEY).click()
    expect(ui.page.get_by_role("heading", name=HOSTILE_KEY)).to_be_visible()
    expect(ui.field("Value")).to_have_value(json.dumps(HOSTILE_VALUE))

    ui.link("<script>alert(1)</").click()
    ui.link("script>").click()
    expect(ui.page.get_by_role("heading", name=HOSTILE_FOLDER_KEY)).to_be_visible()
    expect(ui.field("Value")).to_have_value(json.dumps(HOSTILE_VALUE))

    assert ui.page.locator("img").count() == 0
    assert ui.page.locator("script").count() == 1  # the page's own app.js
    assert ui.page.title() == "kvstore"
    assert ui.dialogs == []
    ui.assert_clean()


@pytest.mark.parametrize("api_keys", [parse_api_keys(f"{WRITER},{READER}:ro")])
class TestTokens:
    """With KVSTORE_API_KEYS set, the page asks for a token and keeps it for the tab only."""

    def sign_in(self, ui: UI, token: str) -> None:
        ui.goto()
        expect(ui.alert).to_have_text("This service needs a token: sign in.")
        ui.field("Token").fill(token)
        ui.button("Sign in").click()

    def expected(self, ui: UI, probe: int) -> set[tuple[int, str]]:
        """The 401 of the first listing, and the sign-in probe's answer."""
        return {(401, ui.url("key?limit=100")), (probe, ui.url(f"key/{PROBE}"))}

    def test_a_read_only_token_cannot_save(self, ui: UI) -> None:
        self.sign_in(ui, READER)
        expect(ui.page.get_by_text("Signed in, read-only")).to_be_visible()
        ui.link("sports").click()
        expect(ui.field("Value")).to_have_value(SPORTS_PRETTY)

        expect(ui.field("Value")).not_to_be_editable()
        for name in ("Save", "Delete", "New key"):
            expect(ui.button(name)).to_have_count(0)
        stored = ui.page.evaluate(
            "() => [sessionStorage.getItem('kvstore.token'), localStorage.length, document.cookie]"
        )
        assert stored == [READER, 0, ""]
        ui.assert_clean(self.expected(ui, 403))

    def test_a_read_write_token_saves_and_signs_out(self, ui: UI) -> None:
        self.sign_in(ui, WRITER)
        expect(ui.page.get_by_text("Signed in", exact=True)).to_be_visible()
        ui.link("sports").click()
        ui.field("Value").fill('["hockey"]')
        ui.button("Save").click()
        expect(ui.meta("Version")).to_have_text("2")
        assert ui.api("GET", "sports", token=READER).json()["value"] == ["hockey"]

        ui.button("Sign out").click()
        expect(ui.field("Token")).to_be_visible()
        assert ui.page.evaluate("() => sessionStorage.length") == 0
        ui.assert_clean(self.expected(ui, 400))

    def test_a_wrong_token_is_refused(self, ui: UI) -> None:
        self.sign_in(ui, "not-a-token")
        expect(ui.alert).to_have_text("The token was refused: sign in again.")
        expect(ui.field("Token")).to_be_visible()
        ui.assert_clean(self.expected(ui, 401))

    def test_a_write_refused_with_403_turns_the_page_read_only(self, ui: UI) -> None:
        """Should the probe not tell (here it is answered as for a read-write token), the first
        403 does: the page hides what writes."""
        ui.page.route(
            ui.url(f"key/{PROBE}"),
            lambda route: route.fulfill(status=400, content_type="application/problem+json"),
        )
        self.sign_in(ui, READER)
        ui.link("sports").click()
        ui.field("Value").fill('["hockey"]')
        ui.button("Save").click()

        expect(ui.alert).to_contain_text("this token may only read, so the page now only reads")
        expect(ui.button("Save")).to_have_count(0)
        assert ui.api("GET", "sports", token=READER).json()["version"] == 1
        ui.assert_clean(self.expected(ui, 400) | {(403, ui.url("key/sports"))})


def test_folder_delete_deletes_every_key_under_the_folder(ui: UI) -> None:
    """The service deletes prefixes (`OPTIONS /v1/key` allows DELETE), so the page offers
    "Delete folder"; it asks first, then `DELETE /v1/key?prefix=` removes the folder's keys."""
    ui.goto("/ui#prefix=sports%2Fbaseball%2F")
    expect(ui.link("yankees")).to_be_visible()
    assert ui.url("key") in [url for method, url in ui.log.requests if method == "OPTIONS"]
    ui.answers.append(True)
    ui.button("Delete folder").click()

    expect(ui.status).to_have_text("Deleted 2 keys under “sports/baseball/”.")
    assert ui.dialogs == ["Delete every key under “sports/baseball/”? This cannot be undone."]
    expect(ui.link("baseball")).to_be_visible()  # back in sports/, where the key stays
    expect(ui.link("baseball/")).to_have_count(0)
    assert ui.api("GET", "sports/baseball/yankees").status_code == 404
    assert ui.api("GET", "sports/baseball").status_code == 200
    ui.assert_clean()


def test_the_screenshot_script_renders_the_page(browser_context: Any, tmp_path: Path) -> None:
    picture = tmp_path / "ui.png"
    screenshot(browser_context, picture)
    header = picture.read_bytes()[:24]
    assert header.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
