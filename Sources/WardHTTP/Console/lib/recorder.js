// Recording a bulletin from the microphone: MediaRecorder captures, then the recording is turned
// into 16-bit mono PCM WAV at 16 kHz, a format every speaker plays and the library checks as any upload.

const RATE = 16000;

export async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true,
    noiseSuppression: true } });
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  const stopped = new Promise((resolve) => { recorder.onstop = () => resolve(new Blob(chunks,
    { type: recorder.mimeType })); });
  recorder.start(250);
  return {
    started: Date.now(),
    async stop() {
      recorder.stop();
      stream.getTracks().forEach((tr) => tr.stop());
      return toWav(await stopped);
    },
  };
}

/** Any recording the browser can decode, as a WAV blob (mono, 16 kHz, 16-bit). */
async function toWav(blob) {
  const decoded = await new AudioContext().decodeAudioData(await blob.arrayBuffer());
  const frames = Math.max(1, Math.ceil(decoded.duration * RATE));
  const offline = new OfflineAudioContext(1, frames, RATE);
  const src = offline.createBufferSource();
  src.buffer = decoded;
  src.connect(offline.destination);
  src.start();
  const mono = (await offline.startRendering()).getChannelData(0);
  const out = new DataView(new ArrayBuffer(44 + mono.length * 2));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) out.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); out.setUint32(4, 36 + mono.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, RATE, true); out.setUint32(28, RATE * 2, true); out.setUint16(32, 2, true); out.setUint16(34, 16,
    true);
  text(36, "data"); out.setUint32(40, mono.length * 2, true);
  for (let i = 0; i < mono.length; i++) out.setInt16(44 + i * 2, Math.max(-1, Math.min(1, mono[i])) * 0x7fff, true);
  return new Blob([out], { type: "audio/wav" });
}
