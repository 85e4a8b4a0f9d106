"""A web page served by owt that itself calls owt from the browser.

Open it with ./open.sh (prints the URL) or GET / with this file as code_b64. The page sends a
second adaptor (GREETER below) with fetch() each time you press the button.
"""

import html

GREETER = """
def run(name="world"):
    return {"greeting": f"Hello, {name}!", "letters": len(name)}
"""

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>owt web example</title>
<!-- No /favicon.ico request: a browser sends it without the page's ?token=, a 401. -->
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; }
  input, button { font-size: 1.1rem; padding: .3rem .6rem; }
  #out { margin-top: 1rem; padding: .8rem; background: #f4f1ea; min-height: 1.5rem; }
</style></head>
<body>
  <h1>owt, from the browser</h1>
  <p>This page was returned by an adaptor. The button runs another adaptor on the same owt.</p>
  <input id="name" value="browser" aria-label="name">
  <button id="go">Greet</button>
  <pre id="out"></pre>
  <script id="greeter" type="text/x-python">__GREETER__</script>
  <script>
    const code = document.getElementById("greeter").textContent;
    // On a server with --token, the page's own URL holds ?token=: its calls send it too.
    const token = new URLSearchParams(location.search).get("token");
    const auth = token ? {authorization: `Bearer ${token}`} : {};
    const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
    document.getElementById("go").addEventListener("click", async () => {
      const out = document.getElementById("out");
      const name = document.getElementById("name").value;
      const response = await fetch("/greet", {
        method: "POST",
        headers: {"content-type": "application/json", ...auth},
        body: JSON.stringify({code_b64: b64(code), kwargs: {name}}),
      });
      const data = await response.json();
      out.textContent = response.ok ? data.greeting : `${data.error}: ${data.message}`;
      out.dataset.done = "1";
    });
  </script>
</body>
</html>
"""


def run(**_ignored):
    return PAGE.replace("__GREETER__", html.escape(GREETER, quote=False))
