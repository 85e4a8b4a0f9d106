// Embeddings from Node (>= 18) or a browser with owt's JavaScript client:
//   node example/embed/client.mjs
// Needs a server with the embeddings environment: owt serve --env embed=.venv-embed/bin/python
// (OWT_ADDRESS, OWT_PORT and OWT_TOKEN name it, as for the scripts: example/README.md).
import { call } from "../../clients/js/owt.js";

const server = `http://${process.env.OWT_ADDRESS ?? "127.0.0.1"}:${process.env.OWT_PORT ?? "9876"}`;
const token = (process.env.OWT_TOKEN ?? "").split(",")[0] || undefined;
const fields = { env: "embed" };

const out = await call(server, "from owt.lib.embed import run", { texts: ["Hello", "Hi there"] }, { fields, token });
console.log(`${out.vectors.length} vectors of ${out.dim} floats`);

const score = await call(
  server,
  "from owt.lib.embed import similarity",
  { a: "How old are you?", b: "What is your age?" },
  { fields, token, fnName: "similarity" },
);
console.log("similarity:", score.toFixed(3));
