// Which frames of a stack are tapegrad's own, and so which one is the user's line that led to an op
// (anomaly mode's call site). Reads the stack text of V8 (Node, Chrome, Deno), SpiderMonkey (Firefox)
// and JavaScriptCore (Safari, Bun).
//
// A frame is tapegrad's when it lies between the two marks of one of its modules: every module whose
// functions can be on the stack between an op's record and the user's call (core's ops and tape, nn's
// layers, cells and optimizers) creates an Error as its first statement and another as its last, and
// hands both to markLibraryCode. Why marks rather than:
// - the directory of our files (the rule before): in a bundle our code and the user's share one file;
// - function names: minifiers rename functions, and names like `add` or `step` are the user's too;
// - V8's Error.captureStackTrace(error, fn): it needs the outermost library function on the stack,
//   which record cannot know (ops call ops, nn's layers call core's ops, core calls the user's
//   callbacks back), and it is not in every engine.
// Whatever a bundler or minifier does, one module's code stays one ordered stretch of one file, and
// the marks are read from stack texts written the same way as the frames they sort (through the same
// source maps, where a runtime applies them), so the comparison holds in source, in tsup's dist, and in
// any bundle, minified or not. (Error.stackTraceLimit 0 leaves no frames, and so no call site.)

export interface Frame {
  /** The frame as the engine wrote it, trimmed, without V8's leading `at `. */
  readonly text: string;
  /** The script's path or URL; null for a frame with no location (`[native code]`, `<anonymous>`). */
  readonly file: string | null;
  readonly line: number;
  readonly column: number;
}

/** One of our modules' code: from its first mark to its last, in one file. */
export interface OwnRange {
  readonly file: string;
  readonly from: Frame;
  readonly to: Frame;
}

const LOCATION = /^(.*):(\d+):(\d+)$/;
const V8_FRAME = /^\s*at /;

/** One frame of any of the three engines' stack texts. */
export function parseFrame(raw: string): Frame {
  let text = raw.trim();
  let location: string;
  if (V8_FRAME.test(text)) {
    // V8: "at name (location)" or "at location"; a name may hold spaces ("async f", "new T", "T.f [as g]")
    // but not " (", and a path may hold " (" only when there is no name.
    text = text.replace(V8_FRAME, '');
    const open = text.indexOf(' (');
    location = text.endsWith(')') && open >= 0 ? text.slice(open + 2, -1) : text;
  } else {
    // SpiderMonkey and JavaScriptCore: "name@location" or "@location"; JavaScriptCore writes "name@[native
    // code]" or a bare name for a frame with no location. A URL may hold @ (node_modules/@scope), a name not.
    const at = text.indexOf('@');
    location = at >= 0 ? text.slice(at + 1) : '';
  }
  const parts = LOCATION.exec(location);
  return parts
    ? { text, file: parts[1]!, line: Number(parts[2]), column: Number(parts[3]) }
    : { text, file: null, line: 0, column: 0 };
}

/** The frames of an Error's stack text (V8's header line, "Error: message", left out). */
export function parseStack(stack: string): Frame[] {
  const lines = stack.split('\n');
  const v8 = lines.some((line) => V8_FRAME.test(line));
  return lines.filter((line) => (v8 ? V8_FRAME.test(line) : line.trim() !== '')).map(parseFrame);
}

/** The stretch between two marks (stack texts whose first frame is the module's code), if both have one. */
export function ownRange(startStack: string, endStack: string): OwnRange | null {
  const [from] = parseStack(startStack);
  const [to] = parseStack(endStack);
  if (!from?.file || from.file !== to?.file) return null;
  return { file: from.file, from, to };
}

const notAfter = (a: Frame, b: Frame): boolean =>
  a.line < b.line || (a.line === b.line && a.column <= b.column);
const inRange = (frame: Frame, range: OwnRange): boolean =>
  frame.file === range.file && notAfter(range.from, frame) && notAfter(frame, range.to);

/** A frame the runtime made (a native function, a Node internal), not one of anyone's lines. */
const isRuntime = (frame: Frame): boolean =>
  frame.file === null || frame.file.startsWith('node:') || frame.file === 'native';

// Our packages' files while they are not bundled (in this workspace, or installed): the rule that still
// knows a frame of a module left unmarked (gradcheck's). The tests beside the sources are the user's.
const PACKAGE_FILE = /(@tapegrad|packages)\/(core|nn|gradcheck)\/(src|dist)\//;
function isPackageFile(file: string | null): boolean {
  if (file === null || file.includes('.test.')) return false;
  let path = file;
  try {
    path = decodeURIComponent(file);
  } catch {
    // Not percent-encoded after all: test the text as it is.
  }
  return PACKAGE_FILE.test(path);
}

/**
 * The frames of `stack` that are not tapegrad's (its modules are the ranges `own`) and the call site
 * among them: the first that is not the runtime's, else the first.
 */
export function callSiteIn(stack: string, own: readonly OwnRange[]): { callSite: string; frames: string[] } {
  const frames = parseStack(stack).filter(
    (frame) => !own.some((range) => inRange(frame, range)) && !isPackageFile(frame.file),
  );
  const user = frames.find((frame) => !isRuntime(frame));
  return {
    callSite: (user ?? frames[0])?.text ?? 'unknown (no stack)',
    frames: frames.map((frame) => frame.text),
  };
}

// The marks of the modules of core and of the libraries built on it; their stacks are formatted only
// when a call site is first asked for.
const marks: [Error, Error][] = [];
let ranges: OwnRange[] | null = null;

/**
 * Marks one module's code as a library's, so that anomaly mode reports the user's line that called into
 * it, not a line of it, even where it is bundled into one file with the user's code. `start` is an
 * Error created by the module's first statement (after its imports), `end` one created by its last:
 *
 * ```ts
 * const codeStart = new Error();
 * // ... the module's functions ...
 * markLibraryCode(codeStart, new Error());
 * ```
 *
 * Every module whose functions can be on the stack between an op and the user's call needs its marks:
 * core's own ops and tape, and the layers, cells and optimizers of a library built on core.
 */
export function markLibraryCode(start: Error, end: Error): void {
  marks.push([start, end]);
  ranges = null;
}

/** The stretches of the marked modules in this runtime's stack coordinates. */
export function ownRanges(): readonly OwnRange[] {
  ranges ??= marks.flatMap(([start, end]) => ownRange(start.stack ?? '', end.stack ?? '') ?? []);
  return ranges;
}

/** The call site of an op whose stack was captured in `origin` (in core), and the frames outside tapegrad. */
export function callSiteOf(origin: Error | null): { callSite: string; frames: string[] } {
  return callSiteIn(origin?.stack ?? '', ownRanges());
}
