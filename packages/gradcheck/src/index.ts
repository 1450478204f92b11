// @tapegrad/gradcheck: finite-difference gradient checks, driven by fast-check, with override checks.

export {
  broadcastableShapes,
  defaultMargin,
  fromPool,
  masks,
  pool,
  type ShapeOptions,
  seededTensors,
  shapes,
  type TensorArbOptions,
  tensors,
  values,
} from './arbitraries.js';
export { centralDifference, type Outputs } from './finiteDiff.js';
export {
  assertGradcheck,
  defaultTolerance,
  type FailureKind,
  formatReport,
  GradcheckError,
  type GradcheckFailure,
  type GradcheckOptions,
  type GradcheckReport,
  gradcheck,
  judgeReport,
  type Tolerance,
} from './gradcheck.js';
export {
  assertGradgradcheck,
  type GradgradcheckOptions,
  gradgradcheck,
} from './gradgradcheck.js';
export {
  type Bounds,
  checkGraphs,
  type Graph,
  GraphFailure,
  type GraphOp,
  type GraphOptions,
  type GraphStep,
  graphOps,
  graphs,
  graphToCode,
  graphValues,
  runGraph,
} from './graphs.js';
export {
  asDamning,
  grossSeverity,
  type Judgement,
  judge,
  witnessFloor,
  witnessFraction,
} from './judgement.js';
export { checkJvp, JvpCheckError, type JvpCheckOptions } from './jvpcheck.js';
export {
  checkOverride,
  checkOverrideAt,
  formatOverrideReport,
  OverrideError,
  type OverrideOptions,
  type OverrideReport,
} from './override.js';
export {
  checkGradgradProperty,
  checkGradientsProperty,
  checkKeepingVerdict,
  defaultNumRuns,
  describeInputs,
  describeShrink,
  type Failed,
  PropertyFailure,
  type PropertyRunOptions,
  runProperty,
  type ShrinkOutcome,
} from './property.js';
export { type GradgradSpec, type JvpCheck, jvpChecks, type OpSpec, specs } from './specs.js';
