// The page: the form and buttons, the live loss plot and the names, all from the worker's messages.
// Plain DOM; the training itself runs in worker.ts.
import type { FromWorker, GradcheckVerdict, RunSettings, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const button = (id: string) => $<HTMLButtonElement>(id);

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (message: ToWorker, transfer: Transferable[] = []) => worker.postMessage(message, transfer);

/** Every step's loss of the run shown, the first at index 0 (step 1). */
let losses: number[] = [];
let steps = 0;
/** Characters the model chooses among: a uniform guess costs log of it. */
let vocabSize = 0;

const status = $('status');
const error = $('error');

function setState(state: string, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
  const training = state === 'training';
  button('start').disabled = training;
  button('stop').disabled = !training;
  button('resume').disabled = training || state === 'idle';
  button('download').disabled = state === 'idle';
  input('open').disabled = training;
}

/** When this stretch of training began, and at which step: for the rate shown. */
let since = { time: 0, step: 0 };

function showStep(step: number): void {
  status.dataset.step = String(step);
  if (status.dataset.state !== 'training') return;
  const seconds = (performance.now() - since.time) / 1000;
  const rate =
    step > since.step && seconds > 0 ? `, ${((step - since.step) / seconds).toFixed(0)} steps/s` : '';
  status.textContent = `training: step ${step} of ${steps}${rate}`;
}

const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/** The raw losses (light) and their running mean over 20 steps (dark), at most 600 points each. */
function drawLoss(): void {
  const svg = $('loss');
  const summary = $('loss-summary');
  if (losses.length === 0) {
    svg.innerHTML = '';
    summary.textContent = '';
    return;
  }
  const width = 600;
  const height = 260;
  const top = Math.max(...losses);
  const bottom = Math.min(0, ...losses);
  const last = Math.max(steps, losses.length);
  const x = (i: number) => ((i + 1) / last) * width;
  const y = (v: number) => height - ((v - bottom) / (top - bottom || 1)) * (height - 10);
  const every = Math.max(1, Math.ceil(losses.length / 600));
  const smooth = losses.map((_, i) => mean(losses.slice(Math.max(0, i - 19), i + 1)));
  const points = (values: number[]) =>
    values
      .map((v, i) => [i, v] as const)
      .filter(([i]) => i % every === 0 || i === values.length - 1)
      .map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`)
      .join(' ');
  svg.innerHTML =
    `<polyline fill="none" stroke="#9bc" stroke-width="1" points="${points(losses)}"/>` +
    `<polyline fill="none" stroke="#147" stroke-width="2" points="${points(smooth)}"/>` +
    `<text x="4" y="14" font-size="12" fill="#555">${top.toFixed(2)}</text>` +
    `<text x="4" y="${height - 4}" font-size="12" fill="#555">${bottom.toFixed(2)}</text>` +
    `<text x="${width - 4}" y="${height - 4}" font-size="12" fill="#555" text-anchor="end">step ${last}</text>`;
  // What the plot starts and ends at, for a reader and for the browser test.
  const recent = mean(losses.slice(-20));
  svg.dataset.first = String(losses[0]);
  svg.dataset.recent = String(recent);
  svg.dataset.points = String(losses.length);
  summary.textContent =
    `step 1: ${losses[0]!.toFixed(3)}; mean of the last ${Math.min(20, losses.length)} steps: ` +
    `${recent.toFixed(3)} (a uniform guess among the ${vocabSize} characters: ${Math.log(vocabSize).toFixed(3)})`;
}

function showVerdicts(verdicts: GradcheckVerdict[], seconds: number): void {
  const rows = verdicts
    .map(
      (v) =>
        `<tr data-cell="${v.name}" data-ok="${v.ok}"><td>${v.name}</td>` +
        `<td class="${v.ok ? 'pass' : 'fail'}">${v.ok ? 'pass' : 'FAIL'}</td><td>${v.cases}</td>` +
        `<td>${v.worstRelError.toExponential(1)}</td></tr>`,
    )
    .join('');
  const witnesses = verdicts
    .filter((v) => !v.ok && v.witness)
    .map((v) => `<pre>${v.name}: ${escapeHtml(v.witness!)}</pre>`)
    .join('');
  $('verdicts').innerHTML =
    `<table><tr><th>cell</th><th>verdict</th><th>cases</th><th>worst relative error</th></tr>${rows}</table>` +
    `<p>${verdicts.filter((v) => v.ok).length} of ${verdicts.length} pass, in ${seconds.toFixed(1)} s.</p>${witnesses}`;
  button('gradcheck').disabled = false;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>]/g, (ch) => (ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : '&gt;'));

function save(name: string, bytes: Uint8Array): void {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
  );
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'ready':
      $('env').textContent =
        `cross-origin isolated: ${message.isolated ? 'yes' : 'no'}; threads: ${message.threads}` +
        (message.isolated ? '' : ' (SharedArrayBuffer needs an isolated page: serve without --no-isolation)');
      $('env').dataset.threads = String(message.threads);
      $('env').dataset.isolated = String(message.isolated);
      break;
    case 'run':
      losses = message.losses;
      steps = message.steps;
      vocabSize = message.vocabSize;
      input('steps').value = String(message.steps);
      drawLoss();
      showStep(message.step);
      break;
    case 'progress':
      losses.push(...message.losses);
      steps = message.steps;
      drawLoss();
      showStep(message.step);
      break;
    case 'names':
      $('names-step').textContent = `(step ${message.step})`;
      $('names').innerHTML = message.names.map((name) => `<li>${escapeHtml(name)}</li>`).join('');
      break;
    case 'state':
      since = { time: performance.now(), step: message.step };
      showStep(message.step);
      setState(
        message.state,
        message.state === 'training'
          ? `training: step ${message.step} of ${steps}`
          : `${message.state} at step ${message.step}`,
      );
      break;
    case 'checkpoint':
      save(message.name, message.bytes);
      break;
    case 'gradcheck':
      showVerdicts(message.verdicts, message.seconds);
      break;
    case 'error':
      error.textContent = message.message;
      button('gradcheck').disabled = false;
      if (status.dataset.state === 'training') setState('stopped', `stopped at step ${status.dataset.step}`);
      break;
  }
};

const settings = (): RunSettings => ({
  hidden: Number(input('hidden').value),
  layers: Number(input('layers').value),
  steps: Number(input('steps').value),
  batch: Number(input('batch').value),
  lr: Number(input('lr').value),
  seed: Number(input('seed').value),
});

const clearError = () => {
  error.textContent = '';
};

button('start').onclick = () => {
  clearError();
  send({ type: 'start', settings: settings() });
};
button('stop').onclick = () => send({ type: 'stop' });
button('resume').onclick = () => {
  clearError();
  send({ type: 'resume', steps: Number(input('steps').value) });
};
button('download').onclick = () => send({ type: 'download' });
button('gradcheck').onclick = () => {
  clearError();
  button('gradcheck').disabled = true;
  $('verdicts').textContent = 'checking…';
  send({ type: 'gradcheck', cases: Number(input('cases').value) });
};
input('open').onchange = async () => {
  const file = input('open').files?.[0];
  if (!file) return;
  clearError();
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'open', name: file.name, bytes }, [bytes.buffer]);
  input('open').value = '';
};
