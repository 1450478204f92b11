// The messages between the page (main.ts) and the worker that trains (worker.ts).

/** What the form asks for: the model's size and how to train it. */
export interface RunSettings {
  hidden: number;
  layers: number;
  /** The step to train to (Resume goes on to it; raise it to train more). */
  steps: number;
  batch: number;
  lr: number;
  seed: number;
}

export type ToWorker =
  | { type: 'start'; settings: RunSettings }
  | { type: 'stop' }
  | { type: 'resume'; steps: number }
  | { type: 'open'; name: string; bytes: Uint8Array }
  | { type: 'download' }
  | { type: 'gradcheck'; cases: number };

export interface GradcheckVerdict {
  name: string;
  ok: boolean;
  cases: number;
  worstRelError: number;
  witness?: string;
}

export type FromWorker =
  | { type: 'ready'; threads: number; isolated: boolean }
  /** A run begun or opened: its losses so far, replacing the plot's. */
  | { type: 'run'; step: number; steps: number; losses: number[]; vocabSize: number }
  /** Losses of the steps since the last message. */
  | { type: 'progress'; step: number; steps: number; losses: number[] }
  | { type: 'names'; step: number; names: string[] }
  | { type: 'state'; state: 'training' | 'stopped' | 'done'; step: number }
  | { type: 'checkpoint'; name: string; bytes: Uint8Array }
  | { type: 'gradcheck'; verdicts: GradcheckVerdict[]; seconds: number }
  | { type: 'error'; message: string };
