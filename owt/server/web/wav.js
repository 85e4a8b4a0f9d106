// WAV clips joined in the browser: the playground and owt's speech page (example/tts) make
// one recording of the sentences a speech stream sends, each a WAV of one format.

// A WAV's chunks by id ("fmt ", "data"), as views into its bytes.
export function wavChunks(wav) {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  const chunks = {};
  for (let pos = 12; pos + 8 <= wav.length; ) {
    const id = String.fromCharCode(...wav.subarray(pos, pos + 4));
    const size = view.getUint32(pos + 4, true);
    chunks[id] = wav.subarray(pos + 8, Math.min(pos + 8 + size, wav.length));
    pos += 8 + size + (size & 1);
  }
  return chunks;
}

// One WAV of several clips of one format: their data after a header that counts it all;
// null when the clips differ in format (then they cannot be joined byte for byte).
export function joinWavs(wavs) {
  const parts = wavs.map(wavChunks);
  const fmt = parts[0]["fmt "];
  const same = (p) => p.data && p["fmt "] && p["fmt "].join() === fmt.join();
  if (!fmt || !parts.every(same)) return null;
  const size = parts.reduce((n, p) => n + p.data.length, 0);
  const head = new Uint8Array(28 + fmt.length);
  const view = new DataView(head.buffer);
  const tag = (pos, text) => head.set([...text].map((c) => c.charCodeAt(0)), pos);
  tag(0, "RIFF");
  view.setUint32(4, head.length - 8 + size, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  view.setUint32(16, fmt.length, true);
  head.set(fmt, 20);
  tag(20 + fmt.length, "data");
  view.setUint32(24 + fmt.length, size, true);
  return new Blob([head, ...parts.map((p) => p.data)], { type: "audio/wav" });
}
