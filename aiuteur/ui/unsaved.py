"""Unsaved typing is never lost: not by leaving the page, nor by an in-app action that refills a form.

A form is a block with the classes `aiu-form` and `aiu-saves-<save button id>` (`tab_api.form_classes`):
typing or ticking inside it marks it unsaved; its save, once it succeeds, marks it clean. Two guards
read that mark, both in `GUARD_HEAD` (the page's `head`):

- **Leaving the page** asks (the browser's own dialog). Gradio's page adds its own `beforeunload`
  listener (`client.close()`) as soon as it has connected, before it adds the app's `head`, and a
  window runs its listeners in the order they were added (capture or not). If Gradio's runs, it
  aborts the page's event stream and heartbeat even when the person then chooses "Stay": an event
  still waiting for its answer ends as "Connection errored out", Gradio marks the page
  disconnected and sends no event again, so the Stay-save and every later edit are lost. So the
  guard's listener is put at the top of the page itself (`FIRST_SCRIPT`, by the `LeaveGuardFirst`
  middleware), ahead of Gradio's script: when it asks, it stops Gradio's listener, the page stays
  connected, and it saves every unsaved form. (Without the middleware the head adds the listener
  itself, too late to stop Gradio's, and says so in the console.) Hiding the page (another tab, a
  phone's lock) saves too.
- **An in-app action that would replace a form** (switch scene, open or close a project, switch
  branch, regenerate a treatment, pick another asset or shot: any event whose answer fills or
  hides a guarded field it does not read) asks first, in the app's own dialog: "Save and
  continue" saves with the form's own button and continues only once that save succeeded (a
  refused save keeps the text and nothing is replaced), "Discard and continue", or "Keep
  editing". The actions are found by `refill_risks` from the app's own event graph (a chain's
  `.then` counts for the click that starts it) and their triggers are tagged by `guard_refills`
  (`aiu-refills aiu-refills-<save id>`); `tests/ui/test_refill_guard.py` fails for any refilling
  event whose trigger is not tagged.

A save's answer counts only for what was typed before it was sent: typing that arrives while a
save is on its way stays unsaved (each mark carries a count; the save remembers the count it sent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from html import escape
from typing import Any

import gradio as gr

from aiuteur.ui.auth import ASGIApp, Message, Receive, Scope, Send

#: The class a trigger of a refilling event carries, and the prefix of the forms it would replace.
REFILLS = "aiu-refills"
REFILLS_PREFIX = "aiu-refills-"
SAVES_PREFIX = "aiu-saves-"
TAB_REFILLS = "aiu-tab-refills"  # on a tab bar whose tabs' opening may replace a form (the tab's id, the form)

GUARD_HEAD = """<script>
(() => {
  const a = window.aiuteur = window.aiuteur || {};
  a.dirty = a.dirty || false; a.busy = a.busy || 0; a.forms = a.forms || {};
  a.sent = {}; a.waiting = {}; a.bypass = 0; a.asking = false; a.count = 0;
  a.unsaved = () => a.dirty || Object.keys(a.forms).length > 0;
  a.mark = (id) => { a.forms[id] = ++a.count; };
  a.clean = (id) => { delete a.forms[id]; };
  // a save answered: clean only if nothing was typed after it was sent; wake whoever waits for it
  a.answered = (id, ok) => {
    if (ok && (a.sent[id] === undefined || a.forms[id] === a.sent[id])) delete a.forms[id];  // (an edit button: no count)
    delete a.sent[id];
    const w = a.waiting[id]; delete a.waiting[id];
    if (w) w(ok && a.forms[id] === undefined);
  };
  const press = (el) => { a.bypass++; try { el.click(); } finally { a.bypass--; } };
  a.flush = () => {
    if (a.saveTimer) { clearTimeout(a.saveTimer); a.saveTimer = null; }
    const ids = Object.keys(a.forms);
    if (a.dirty) ids.push("aiu-input-save");
    for (const id of ids) { const b = document.getElementById(id); if (b) press(b); }
  };
  // save one form with its own button; true once that save succeeded
  a.saveForm = (id) => new Promise((resolve) => {
    const b = document.getElementById(id);
    if (!b || b.disabled) { resolve(false); return; }
    a.waiting[id] = resolve; press(b);
  });
  const formOf = (el) => {
    const f = el && el.closest ? el.closest(".aiu-form") : null;
    if (!f) return null;
    const c = [...f.classList].find((x) => x.startsWith("aiu-saves-"));
    return c ? c.slice("aiu-saves-".length) : null;
  };
  const typed = (e) => { const id = formOf(e.target); if (id) a.mark(id); };
  document.addEventListener("input", typed, true);
  document.addEventListener("change", typed, true);
  // a save button pressed (by hand or by a guard): remember which typing it sends
  document.addEventListener("click", (e) => {
    const b = e.target && e.target.closest ? e.target.closest("button[id]") : null;
    if (b && a.forms[b.id] !== undefined) a.sent[b.id] = a.forms[b.id];
  }, true);
  // leaving the page: called by the page's first listener (FIRST_SCRIPT), added before Gradio's
  a.beforeunload = (e) => {
    if (!(a.unsaved() || a.busy > 0)) return;
    e.preventDefault(); e.returnValue = "";
    e.stopImmediatePropagation();  // Gradio's listener would close the connection: "Stay" must stay connected
    setTimeout(() => a.flush(), 0);  // runs only if the person stayed: save what was typed
  };
  if (!a.first && !a.ownListener) {  // the page was served without LeaveGuardFirst
    a.ownListener = true;
    console.warn("aiuteur: the leave guard's listener was added after Gradio's; choosing Stay may drop the connection");
    window.addEventListener("beforeunload", (e) => a.beforeunload(e), true);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && a.unsaved()) a.flush();
  });

  // --- in-app actions that would replace a form holding unsaved typing -------------------------
  const risky = (el) => {
    const tab = el && el.closest ? el.closest("[role=tab][data-tab-id]") : null;
    if (tab) {  // a tab's button: its bar lists what opening that tab may replace (aiu-tab-refills--<tab>--<form>)
      const bar = tab.closest(".aiu-tab-refills"), pre = `aiu-tab-refills--${tab.dataset.tabId}--`;
      return bar ? [...bar.classList].filter((c) => c.startsWith(pre)).map((c) => c.slice(pre.length))
        .filter((id) => a.forms[id] !== undefined) : [];
    }
    const r = el && el.closest ? el.closest(".aiu-refills") : null;
    if (!r) return [];
    return [...r.classList].filter((c) => c.startsWith("aiu-refills-"))
      .map((c) => c.slice("aiu-refills-".length)).filter((id) => a.forms[id] !== undefined);
  };
  const nameOf = (id) => {  // the form's stage (and button), as the page names them (guard_refills writes them)
    const el = document.getElementById("aiu-form-names");
    let names = {};
    try { names = el ? JSON.parse(el.dataset.names || "{}") : {}; } catch (e) { names = {}; }
    const b = document.getElementById(id);
    return names[id] || `“${b ? b.textContent.trim() : id}”`;
  };
  const dialog = () => {
    let d = document.getElementById("aiu-unsaved-dialog");
    if (d) return d;
    d = document.createElement("dialog");
    d.id = "aiu-unsaved-dialog"; d.className = "aiu-unsaved-dialog";
    d.setAttribute("aria-labelledby", "aiu-unsaved-title");
    d.innerHTML = '<h3 id="aiu-unsaved-title">Unsaved edits</h3><p class="aiu-unsaved-what"></p>'
      + '<p class="aiu-unsaved-said" role="status"></p><div class="aiu-unsaved-buttons">'
      + '<button type="button" data-choice="save" class="aiu-unsaved-save">Save and continue</button>'
      + '<button type="button" data-choice="discard">Discard and continue</button>'
      + '<button type="button" data-choice="stay">Keep editing</button></div>';
    document.body.appendChild(d);
    return d;
  };
  a.asks = 0;
  a.ask = (ids, go) => {
    a.asking = true;
    const mine = ++a.asks;  // a save that answers after "Keep editing" (or a later question) goes nowhere
    const d = dialog(), said = d.querySelector(".aiu-unsaved-said");
    const buttons = [...d.querySelectorAll("button")];
    d.querySelector(".aiu-unsaved-what").textContent =
      `What you typed in ${ids.map(nameOf).join(" and ")} is not saved, and this would replace it.`;
    said.textContent = "";
    buttons.forEach((b) => { b.disabled = false; });
    const done = (then) => {
      d.onclick = null; d.oncancel = null; if (d.open) d.close(); a.asking = false;
      if (then) then();
    };
    d.oncancel = (e) => { e.preventDefault(); done(null); };  // Escape: keep editing
    d.onclick = async (e) => {
      const choice = e.target && e.target.dataset ? e.target.dataset.choice : null;
      if (!choice) return;
      if (choice === "stay") { done(null); return; }
      if (choice === "discard") { ids.forEach(a.clean); done(go); return; }
      buttons.slice(0, 2).forEach((b) => { b.disabled = true; });  // "Keep editing" stays: a save may hang
      said.textContent = "Saving…";
      for (const id of ids) {
        const ok = await a.saveForm(id);
        if (mine !== a.asks || !d.open) return;
        if (!ok) {  // refused (someone saved since) or failed: keep the text, replace nothing
          said.textContent = `${nameOf(id)} was not saved (see the message there); your text is still in the form. `
            + "Nothing was replaced.";
          buttons.forEach((b) => { b.disabled = false; });
          return;
        }
      }
      done(go);
    };
    d.showModal();
  };
  // capture phase: before Gradio's own handlers see the press, the focus or the click
  const intercept = (e) => {
    if (a.bypass) return;
    const t = e.target;
    const field = t && t.matches && t.matches("input, textarea");
    if (e.type === "focus" && !field) return;  // a button reached by Tab asks only when pressed
    const ids = risky(t);
    if (!ids.length) return;
    e.preventDefault(); e.stopImmediatePropagation();
    if (a.asking) return;
    if (field && t.blur) t.blur();
    a.ask(ids, () => {  // once the forms are saved or discarded, the action goes on as it was started
      a.bypass++;
      try { if (field) t.focus(); t.click(); } finally { a.bypass--; }
    });
  };
  for (const type of ["pointerdown", "mousedown", "click", "focus", "keydown"]) {
    document.addEventListener(type, (e) => {
      if (type === "keydown" && !["Enter", " ", "ArrowDown", "ArrowUp"].includes(e.key)) return;
      intercept(e);
    }, true);
  }
})();
</script>"""


#: The page's first script (in `<head>`, before Gradio's own): the leave guard's `beforeunload`
#: listener, added before Gradio adds its `client.close()` one, so the guard can stop it.
#: `GUARD_HEAD` (added later, with the app's head) fills in what it does.
FIRST_SCRIPT = """<script>
(() => {
  const a = window.aiuteur = window.aiuteur || {};
  a.first = true;
  window.addEventListener("beforeunload", (e) => { if (a.beforeunload) a.beforeunload(e); });
})();
</script>"""

_HEAD = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)


class LeaveGuardFirst:
    """ASGI middleware: puts `FIRST_SCRIPT` first in the app's page (the HTML Gradio serves with its
    `<gradio-app>` element), so that the leave guard's listener runs before Gradio's. Anything
    else (the API, files, other responses) passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "GET" or "/gradio_api/" in path:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        page = False
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start, page
            if message["type"] == "http.response.start":
                named = {k.lower(): v for k, v in message.get("headers", [])}
                page = named.get(b"content-type", b"").startswith(b"text/html") and b"content-encoding" not in named
                if not page:
                    await send(message)
                else:
                    start = message
                return
            if not page or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = _with_first_script(b"".join(chunks))
            if start is None:  # a body never comes before its start
                raise RuntimeError("HTTP response body before its start")
            kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, capture)


def _with_first_script(body: bytes) -> bytes:
    """Gradio's page with `FIRST_SCRIPT` right after its `<head>` tag; any other HTML as it was."""
    head = _HEAD.search(body)
    if head is None or b"<gradio-app" not in body:
        return body
    return body[:head.end()] + FIRST_SCRIPT.encode() + body[head.end():]


def forms_of(block: Any) -> set[str]:
    """The save ids of the guarded forms `block` belongs to (its own classes or a surrounding block's)."""
    found: set[str] = set()
    while block is not None:
        found.update(c[len(SAVES_PREFIX):] for c in (getattr(block, "elem_classes", None) or [])
                     if isinstance(c, str) and c.startswith(SAVES_PREFIX))
        block = getattr(block, "parent", None)
    return found


def _inside(block: Any) -> Iterable[Any]:
    for child in getattr(block, "children", None) or []:
        yield child
        yield from _inside(child)


def replaced_forms(output: Any) -> set[str]:
    """The forms an event's answer for `output` may replace: a guarded field, or a column, row or
    group (its visibility) holding guarded fields. The tab bar's selection replaces nothing."""
    own = forms_of(output) if isinstance(output, gr.components.Component) else set()
    if isinstance(output, gr.blocks.BlockContext) and not isinstance(output, (gr.Tabs, gr.Tab)):
        for child in _inside(output):
            if isinstance(child, gr.components.Component):
                own |= forms_of(child)
    return own


def refill_risks(demo: gr.Blocks) -> dict[int, set[str]]:
    """Event id -> the forms its answer, or any event chained after it, may replace without having read
    them, for every event a user starts (chained events count for the one that starts the chain)."""
    fns = {fn._id: fn for fn in demo.fns.values()}
    own: dict[int, set[str]] = {}
    for fid, fn in fns.items():
        read = {id(x) for x in fn.inputs}
        risk: set[str] = set()
        for out in fn.outputs:
            if id(out) not in read:
                risk |= replaced_forms(out)
        # a form field the event reads is replaced from what was typed (a save): that form is not at risk
        risk -= {f for x in fn.inputs for f in forms_of(x) if isinstance(x, gr.components.Component)}
        own[fid] = risk

    def head(fid: int) -> int:
        seen: set[int] = set()
        after = fns[fid].trigger_after
        while after is not None and fid not in seen:
            seen.add(fid)
            fid, after = after, fns[after].trigger_after
        return fid

    risks: dict[int, set[str]] = {}
    for fid, risk in own.items():
        if risk:
            risks.setdefault(head(fid), set()).update(risk)
    return risks


def guard_refills(demo: gr.Blocks) -> dict[int, set[str]]:
    """Tag the trigger of every event that may replace a guarded form (see `refill_risks`), so the page
    asks before it runs while that form holds unsaved typing. Call it inside the Blocks, last.
    Returns the risks (event id -> save ids)."""
    fns = {fn._id: fn for fn in demo.fns.values()}
    risks = refill_risks(demo)
    names = form_names(demo)
    gr.HTML(f'<div id="aiu-form-names" hidden data-names="{escape(json.dumps(names))}"></div>',
            elem_id="aiu-form-names-block", container=False)
    for fid, forms in risks.items():
        for block_id, _event in fns[fid].targets:
            block = demo.blocks.get(block_id) if block_id is not None else None
            if block is None or block is demo:  # the page's own load: nothing typed yet
                continue
            if isinstance(block, gr.Tab):  # its button sits in the tab bar: the bar names what it may replace
                bar = block.parent
                _add_classes(bar, [TAB_REFILLS, *(tab_refill_class(block, f) for f in sorted(forms))])
            else:
                _add_classes(block, [REFILLS, *(REFILLS_PREFIX + f for f in sorted(forms))])
    return risks


def form_names(demo: gr.Blocks) -> dict[str, str]:
    """Save id -> how the dialog names its form: its stage tab, and its save button where a tab has several."""
    by_tab: dict[str, list[tuple[str, str]]] = {}
    for block in demo.blocks.values():
        save_id = getattr(block, "elem_id", None)
        if not (isinstance(block, gr.Button) and isinstance(save_id, str) and save_id.startswith("aiu-save-")):
            continue
        tab = block.parent
        while tab is not None and not isinstance(tab, gr.Tab):
            tab = tab.parent
        where = str(tab.label) if tab is not None else ""
        by_tab.setdefault(where, []).append((save_id, str(block.value)))
    names: dict[str, str] = {}
    for where, forms in by_tab.items():
        for save_id, label in forms:
            stage = f"the “{where}” tab" if where else ""
            names[save_id] = f"{stage} (“{label}”)" if len(forms) > 1 or not stage else stage
    return names


def tab_refill_class(tab: gr.Tab, save_id: str) -> str:
    """The tab bar's class saying that opening `tab` may replace `save_id`'s form."""
    return f"{TAB_REFILLS}--{tab.id}--{save_id}"


def _add_classes(block: Any, wanted: list[str]) -> None:
    classes = list(getattr(block, "elem_classes", None) or [])
    block.elem_classes = classes + [c for c in wanted if c not in classes]
