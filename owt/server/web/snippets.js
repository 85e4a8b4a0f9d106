// "Copy as": the exact call of the playground as curl, JavaScript (owt.js), Python
// (owt.client), the shell helpers (clients/sh/owt.sh) or Haskell (mkOwtClient).
//
// A call is {kind: "code" | "endpoint", method, path, code, kwargs, options, origin,
// credential: {kind: "bearer" | "basic", value} | null, answer: "whole" | "stream" | "sse"}.

const encoder = new TextEncoder();

function base64(text, urlSafe = false) {
  const bytes = encoder.encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  const out = btoa(binary);
  return urlSafe ? out.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : out;
}

/** A shell word: single-quoted, with ' written as '\''. */
export function shellQuote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

function queryValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function callUrl(call, withCode) {
  const url = new URL(call.path, call.origin);
  if (call.kind === "endpoint") {
    for (const [name, value] of Object.entries(call.kwargs)) url.searchParams.set(name, value);
    return url.toString();
  }
  if (withCode) url.searchParams.set("code_b64", base64(call.code, true));
  for (const [name, value] of Object.entries(call.options)) {
    url.searchParams.set(name, queryValue(value));
  }
  if (withCode && Object.keys(call.kwargs).length) {
    url.searchParams.set("kwargs_b64", base64(JSON.stringify(call.kwargs), true));
  }
  return url.toString();
}

function authHeader(credential) {
  if (!credential) return null;
  if (credential.kind === "basic") return `Basic ${base64(credential.value)}`;
  return `Bearer ${credential.value}`;
}

function curl(call) {
  const lines = ["curl -sS -N --fail-with-body"];
  const auth = authHeader(call.credential);
  if (call.kind === "endpoint" || call.method === "GET") {
    lines[0] += " " + shellQuote(callUrl(call, true));
    if (auth) lines.push(`-H ${shellQuote(`authorization: ${auth}`)}`);
    return lines.join(" \\\n  ");
  }
  const body = { code_b64: base64(call.code), ...call.options };
  if (Object.keys(call.kwargs).length) body.kwargs = call.kwargs;
  lines[0] += " " + shellQuote(new URL(call.path, call.origin).toString());
  lines.push(`-H 'content-type: application/json'`);
  if (auth) lines.push(`-H ${shellQuote(`authorization: ${auth}`)}`);
  lines.push(`--data-binary ${shellQuote(JSON.stringify(body))}`);
  return lines.join(" \\\n  ");
}

function shell(call) {
  if (call.kind === "endpoint") return curl(call);
  const auth = authHeader(call.credential);
  const curlOptions = auth ? ` -H ${shellQuote(`authorization: ${auth}`)}` : "";
  const url = callUrl(call, false);
  const args = shellQuote(JSON.stringify(call.kwargs));
  const code = call.code.endsWith("\n") ? call.code : call.code + "\n";
  const head = [
    "# in a checkout of owt (the helpers are clients/sh/owt.sh)",
    "source clients/sh/owt.sh",
    "cat > adaptor.py <<'OWT_ADAPTOR'",
    code + "OWT_ADAPTOR",
  ].join("\n");
  if (call.method === "GET") {
    return `${head}\ncurl -sS -N --fail-with-body${curlOptions} "$(owt_url ${shellQuote(url)} adaptor.py ${args})"`;
  }
  return `${head}\nowt_call ${shellQuote(url)} adaptor.py ${args}${curlOptions}`;
}

function jsOptions(call) {
  const parts = [];
  if (call.method !== "POST") parts.push(`method: ${JSON.stringify(call.method)}`);
  const fields = { ...call.options };
  const fn = fields.fn_name;
  delete fields.fn_name;
  if (fn) parts.push(`fnName: ${JSON.stringify(fn)}`);
  if (Object.keys(fields).length) parts.push(`fields: ${JSON.stringify(fields)}`);
  const cred = call.credential;
  if (cred) parts.push(`${cred.kind === "basic" ? "auth" : "token"}: ${JSON.stringify(cred.value)}`);
  return parts.length ? `{ ${parts.join(", ")} }` : "{}";
}

function javascript(call) {
  const url = JSON.stringify(new URL(call.path, call.origin).toString());
  if (call.kind === "endpoint") {
    const auth = authHeader(call.credential);
    const init = auth ? `, { headers: { authorization: ${JSON.stringify(auth)} } }` : "";
    return [
      `const response = await fetch(${JSON.stringify(callUrl(call, false))}${init});`,
      "console.log(response.status, await response.text());",
    ].join("\n");
  }
  const fn = { sse: "events", stream: "stream" }[call.answer] || "call";
  const head = [
    "// node call.mjs with owt.js (clients/js/owt.js) next to it, or in a <script type=\"module\">",
    `import { ${fn} } from "./owt.js";`,
    "",
    `const code = ${JSON.stringify(call.code)};`,
    `const args = ${JSON.stringify(call.kwargs)};`,
  ];
  const invoke = `${fn}(${url}, code, args, ${jsOptions(call)})`;
  if (fn === "call") return [...head, `console.log(await ${invoke});`].join("\n");
  return [...head, `for await (const item of ${invoke}) console.log(item);`].join("\n");
}

/** A Python literal for a JSON value. */
export function pyLiteral(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pyLiteral).join(", ")}]`;
  const items = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyLiteral(v)}`);
  return `{${items.join(", ")}}`;
}

function pyArguments(kwargs) {
  const names = Object.keys(kwargs);
  if (names.every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) {
    return names.map((n) => `${n}=${pyLiteral(kwargs[n])}`).join(", ");
  }
  return `**${pyLiteral(kwargs)}`;
}

function pyString(text) {
  const safe = !text.includes('"""') && !text.includes("\\") && !text.endsWith('"');
  return safe ? `"""${text}"""` : JSON.stringify(text);
}

function python(call) {
  const cred = call.credential;
  let auth = "";
  if (cred && cred.kind === "basic") {
    const [user, ...rest] = cred.value.split(":");
    auth = `, auth=(${JSON.stringify(user)}, ${JSON.stringify(rest.join(":"))})`;
  } else if (cred) {
    auth = `, token=${JSON.stringify(cred.value)}`;
  }
  const lines = [
    "from owt.client import Client",
    "",
    `client = Client(${JSON.stringify(call.origin)}${auth})`,
  ];
  const args = pyArguments(call.kwargs);
  let target;
  if (call.kind === "endpoint") {
    target = `client.endpoint(${JSON.stringify(call.path.replace(/^\//, ""))}, "GET")`;
  } else {
    const options = [`path=${JSON.stringify(call.path)}`];
    if (call.method !== "POST") options.push(`method=${JSON.stringify(call.method)}`);
    for (const [name, value] of Object.entries(call.options)) {
      options.push(`${name}=${pyLiteral(value)}`);
    }
    lines.splice(1, 0, "", `code = ${pyString(call.code)}`);
    target = `client.adaptor(code, ${options.join(", ")})`;
  }
  lines.push(`adaptor = ${target}`);
  if (call.answer === "sse") {
    lines.push(`for event in adaptor.events(${args}):`, "    print(event)");
  } else if (call.answer === "stream") {
    lines.push(`for chunk in adaptor.stream(${args}):`, '    print(chunk, end="", flush=True)');
  } else {
    lines.push(`print(adaptor(${args}))`);
  }
  return lines.join("\n");
}

/** A Haskell string literal. */
export function hsString(text) {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code > 0x7e) out += `\\${code}\\&`;
    else out += ch;
  }
  return out + '"';
}

function hsValue(value) {
  if (value === null || value === undefined) return "Null";
  if (typeof value === "boolean") return value ? "Bool True" : "Bool False";
  if (typeof value === "number") return `Number ${value < 0 ? `(${value})` : value}`;
  if (typeof value === "string") return `String ${hsString(value)}`;
  if (Array.isArray(value)) return `toJSON [${value.map(hsValue).join(", ")}]`;
  const pairs = Object.entries(value).map(([k, v]) => `${hsString(k)} .= ${hsValue(v)}`);
  return `object [${pairs.join(", ")}]`;
}

// The Haskell client (clients/haskell, module Owt): mkOwtClient URL, its path the call's;
// withToken / withBasicAuth / withFields; owt, owtStream, owtEvents, owtAt @METHOD.
function haskell(call) {
  const cred = call.credential;
  const setup = [];
  if (cred && cred.kind === "basic") {
    const [user, ...rest] = cred.value.split(":");
    setup.push(`withBasicAuth ${hsString(user)} ${hsString(rest.join(":"))}`);
  } else if (cred) {
    setup.push(`withToken ${hsString(cred.value)}`);
  }
  const options = Object.entries(call.options);
  if (call.kind !== "endpoint" && options.length) {
    const fields = options.map(([name, value]) => `(${hsString(name)}, ${hsValue(value)})`);
    setup.push(`withFields [${fields.join(", ")}]`);
  }
  const base = call.kind === "endpoint" ? "/" : call.path;
  const url = hsString(new URL(base, call.origin).toString());
  const client = setup.length ? `${setup.join(" . ")} <$> mkOwtClient ${url}` : `mkOwtClient ${url}`;
  const args = `(${hsValue(call.kwargs)})`;
  let run;
  if (call.kind === "endpoint") {
    run = `owtAt @GET ${hsString(call.path)} ${args} client >>= putBS`;
  } else if (call.answer === "sse") {
    run = `owtEvents @${call.method} code ${args} (\\e -> putBS (sseData e) >> putStrLn "") client`;
  } else if (call.answer === "stream") {
    run = `owtStream @${call.method} code ${args} putBS client`;
  } else {
    run = `owt @${call.method} code ${args} client >>= putBS`;
  }
  const lines = [
    "{-# LANGUAGE OverloadedStrings, TypeApplications #-}",
    "-- from a checkout of owt: runghc -iclients/haskell/src call.hs",
    "import Data.Aeson (Value (..), object, toJSON, (.=))",
    "import Owt",
    "",
  ];
  if (call.kind !== "endpoint") lines.push("code :: String", `code = ${hsString(call.code)}`, "");
  lines.push("main :: IO ()", "main = do", `  client <- ${client}`, `  ${run}`);
  return lines.join("\n");
}

const WRITERS = { curl, js: javascript, python, sh: shell, haskell };

/** The snippet of `lang` ("curl", "js", "python", "sh", "haskell") for `call`. */
export function snippet(lang, call) {
  return (WRITERS[lang] || curl)(call);
}
