"""A text-to-speech page served by owt: type, press Speak, hear each sentence as it arrives.

Open it with ./open.sh (prints the URL), or mount it (``owt serve --mount
speak=example/tts/page.py``) and open /speak. The page sends owt's own TTS adaptor
(owt/lib/tts.py, read here and embedded in the page) with fetch(), reads the server-sent
events as they stream in, plays each sentence's WAV with the Web Audio API as soon as it
arrives, and joins the sentences into the whole recording for the audio player and the
download link (each byte of audio crosses the wire once; the joining is owt's own
/_owt/web/wav.js, which the playground uses too). No CDN, no build step.
"""

import base64
from pathlib import Path

import owt.lib.tts

TTS_CODE_B64 = base64.b64encode(Path(owt.lib.tts.__file__).read_bytes()).decode()

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>owt speaks</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  body { padding: 0 1rem; }
  textarea { width: 100%; font: inherit; font-size: 1.05rem; padding: .5rem; }
  textarea { box-sizing: border-box; }
  .row { display: flex; gap: .8rem; align-items: center; margin: .6rem 0; flex-wrap: wrap; }
  button { font-size: 1.1rem; padding: .35rem 1.2rem; }
  #chunks { padding-left: 1.4rem; }
  #chunks li { margin: .2rem 0; }
  #chunks li small { color: #777; }
  #status { color: #555; min-height: 1.2rem; }
  audio { width: 100%; margin-top: .6rem; }
</style></head>
<body>
  <h1>owt speaks</h1>
  <p>Each sentence is synthesised by espeak-ng on the owt server and streamed back as soon as
  it is ready; it starts playing while the rest are still on their way.</p>
  <textarea id="text" rows="5" aria-label="text">Hello from owt. This page sent a Python adaptor \
to the server. Each sentence comes back as its own WAV file, and plays as soon as it arrives. \
When the last one is in, the whole recording is yours to download.</textarea>
  <div class="row">
    <label>voice <select id="voice">
      <option value="en">English</option><option value="en-us">English (US)</option>
      <option value="fr">French</option><option value="de">German</option>
      <option value="es">Spanish</option></select></label>
    <label>speed <input id="speed" type="range" min="80" max="400" value="175"></label>
    <button id="speak">Speak</button>
  </div>
  <div id="status" role="status"></div>
  <ol id="chunks"></ol>
  <audio id="player" controls></audio>
  <p><a id="download" download="speech.wav" hidden>Download the whole recording (WAV)</a></p>
  <script type="module">
    // owt's own: the sentences joined into one recording, as the playground does.
    import { joinWavs } from "/_owt/web/wav.js";
    const TTS_CODE_B64 = "__TTS_CODE_B64__";
    const $ = (id) => document.getElementById(id);
    let audio = null;      // the AudioContext, made on the first click (autoplay rules)
    let nextStart = 0;     // when the next sentence should start, in AudioContext time
    let lastUrl = null;
    let heard = [];        // the WAV of each sentence so far, joined into the recording

    function bytesOf(b64) {
      const text = atob(b64);
      const bytes = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      return bytes;
    }

    async function play(wav) {
      // Queue this sentence right after the previous one: gapless playback as they arrive.
      if (!audio) return;
      try {
        const buffer = await audio.decodeAudioData(wav.buffer.slice(0));
        const source = audio.createBufferSource();
        source.buffer = buffer;
        source.connect(audio.destination);
        nextStart = Math.max(nextStart, audio.currentTime + 0.05);
        source.start(nextStart);
        nextStart += buffer.duration;
        document.body.dataset.played = Number(document.body.dataset.played || 0) + 1;
      } catch (err) {
        $("status").textContent = `could not play a sentence: ${err}`;
      }
    }

    function showWhole(blob) {
      if (lastUrl) URL.revokeObjectURL(lastUrl);
      lastUrl = URL.createObjectURL(blob);
      const link = $("download");
      link.href = lastUrl;
      link.hidden = false;
      return lastUrl;
    }

    function onSentence(event, started) {
      const wav = bytesOf(event.sentence);
      heard.push(wav);
      const item = document.createElement("li");
      item.className = "chunk";
      const after = ((performance.now() - started) / 1000).toFixed(2);
      item.textContent = `${event.text} `;
      const note = document.createElement("small");
      note.textContent = `(${wav.length} bytes, arrived after ${after}s)`;
      item.append(note);
      $("chunks").append(item);
      play(wav);
    }

    async function speak() {
      const button = $("speak");
      button.disabled = true;
      $("chunks").replaceChildren();
      document.body.dataset.played = 0;
      $("download").hidden = true;
      document.body.dataset.state = "speaking";
      $("status").textContent = "speaking…";
      try {
        if (!audio && window.AudioContext) audio = new AudioContext();
        if (audio) { await audio.resume(); nextStart = audio.currentTime; }
      } catch (err) { audio = null; }
      const started = performance.now();
      heard = [];
      try {
        // On a server with --token, the page's own URL holds ?token=: its calls send it too.
        const token = new URLSearchParams(location.search).get("token");
        const response = await fetch("/tts", {
          method: "POST",
          headers: {"content-type": "application/json",
                    ...(token ? {authorization: `Bearer ${token}`} : {})},
          body: JSON.stringify({
            code_b64: TTS_CODE_B64,
            kwargs: {text: $("text").value, voice: $("voice").value,
                     speed: Number($("speed").value)},
          }),
        });
        if (!response.ok) {
          const problem = await response.json();
          throw new Error(`${problem.error}: ${problem.message}`);
        }
        // Server-sent events over a streamed fetch body: blocks end with a blank line.
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let pending = "";
        // The stream ends at the event whose id is [DONE] (its data is [DONE] too, but so would
        // be an item that is that text, with a number as its id); an error event carries the
        // server's JSON error.
        read: for (;;) {
          const {value, done} = await reader.read();
          if (done) throw new Error("the stream ended before its last event (id [DONE])");
          pending += value;
          let cut;
          while ((cut = pending.indexOf("\\n\\n")) >= 0) {
            const lines = pending.slice(0, cut).split("\\n");
            pending = pending.slice(cut + 2);
            const field = (name) => lines.filter((l) => l.startsWith(`${name}: `))
              .map((l) => l.slice(name.length + 2));
            const data = field("data").join("\\n");
            if (field("event")[0] === "error") {
              const problem = JSON.parse(data);
              throw new Error(`${problem.error}: ${problem.message}`);
            }
            if (field("id")[0] === "[DONE]") break read;
            if (data) onSentence(JSON.parse(data), started);
          }
        }
        if (heard.length) {
          const last = new Blob([heard.at(-1)], {type: "audio/wav"});
          $("player").src = showWhole(joinWavs(heard) || last);
        }
        const count = $("chunks").children.length;
        $("status").textContent = `${count} sentence${count === 1 ? "" : "s"} spoken.`;
        document.body.dataset.state = "done";
      } catch (err) {
        $("status").textContent = String(err);
        document.body.dataset.state = "error";
      } finally {
        button.disabled = false;
      }
    }

    $("speak").addEventListener("click", speak);
  </script>
</body>
</html>
"""


def run(**_ignored):
    """The page, with the TTS adaptor's source inside it."""
    return PAGE.replace("__TTS_CODE_B64__", TTS_CODE_B64)
