// Embeddings from Node (>= 18) or a browser with owt's JavaScript client:
//   node example/embed/client.mjs
// Needs a server with the embeddings environment: owt serve --env embed=.venv-embed/bin/python
import { call } from "../../clients/js/owt.js";

const server = `http://${process.env.OWT_ADDRESS ?? "127.0.0.1"}:${process.env.OWT_PORT ?? "9876"}`;
const fields = { env: "embed" };

const out = await call(server, "from owt.lib.embed import run", { texts: ["Hello", "Hi there"] }, { fields });
console.log(`${out.vectors.length} vectors of ${out.dim} floats`);

const score = await call(
  server,
  "from owt.lib.embed import similarity",
  { a: "How old are you?", b: "What is your age?" },
  { fields, fnName: "similarity" },
);
console.log("similarity:", score.toFixed(3));
