"""`LeaveGuardFirst` puts the leave guard's listener first in the app's page, and touches nothing else.

Gradio's page adds its own `beforeunload -> client.close()` listener before the app's `head`
runs, and a window runs its listeners in the order they were added; only a listener in the
served HTML, ahead of Gradio's script, can stop Gradio's when the person chooses Stay (the
browser test is tests/browser/test_leave_guard.py; tests/browser/test_tab_visits.py reads the
served app's page). Here: responses through the middleware.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from aiuteur.ui.unsaved import FIRST_SCRIPT, LeaveGuardFirst

PAGE = ('<!doctype html><html lang="en"><head>\n<meta charset="utf-8" /><script type="module" src="./index.js">'
        "</script></head><body><gradio-app></gradio-app></body></html>")


def client() -> TestClient:
    routes = [Route("/", lambda r: HTMLResponse(PAGE)),
              Route("/other", lambda r: HTMLResponse("<html><head></head><body>a file</body></html>")),
              Route("/gradio_api/file=page.html", lambda r: HTMLResponse(PAGE)),
              Route("/gradio_api/info", lambda r: JSONResponse({"head": "<head>"}))]
    return TestClient(Starlette(routes=routes, middleware=[Middleware(LeaveGuardFirst)]))


def test_the_page_gets_the_first_script_before_any_other() -> None:
    page = client().get("/")
    assert page.status_code == 200
    body = page.text
    assert body.startswith('<!doctype html><html lang="en"><head>' + FIRST_SCRIPT)
    assert body.index(FIRST_SCRIPT) < body.index('type="module"')
    assert int(page.headers["content-length"]) == len(page.content)


def test_other_responses_pass_untouched() -> None:
    c = client()
    assert FIRST_SCRIPT not in c.get("/other").text  # not Gradio's page
    assert c.get("/gradio_api/file=page.html").text == PAGE  # a file, even one that looks like the page
    assert c.get("/gradio_api/info").json() == {"head": "<head>"}
    assert FIRST_SCRIPT not in c.head("/").text

