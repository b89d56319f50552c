// Why a model folder cannot serve, as a coded reason: the API shows it for the model and returns
// it to a submission, instead of listing a model that cannot work.

/** SALIENCY_MODEL_INVALID: the folder is broken (manifest, file); UNSUPPORTED: valid, but we cannot explain it. */
export type ProblemCode = 'SALIENCY_MODEL_INVALID' | 'SALIENCY_MODEL_UNSUPPORTED';

export interface ModelProblem {
  code: ProblemCode;
  reason: string;
}

/** Longest reason kept: a compiler message names every op type once, but stays readable. */
const MAX_REASON = 2000;

/** The coded reason for an error met while loading, probing or compiling a model. */
export function problemOf(err: unknown): ModelProblem {
  const e = err instanceof Error ? err : new Error(String(err));
  const text = e.message.length > MAX_REASON ? `${e.message.slice(0, MAX_REASON)}…` : e.message;
  switch (e.name) {
    case 'RegistryError':
    case 'OnnxFormatError':
      return { code: 'SALIENCY_MODEL_INVALID', reason: text };
    case 'CompileError':
    case 'TargetError':
    case 'ShapeProbeError':
      return { code: 'SALIENCY_MODEL_UNSUPPORTED', reason: text };
    default:
      // ONNX Runtime's own refusals: its first line is the useful part.
      return { code: 'SALIENCY_MODEL_UNSUPPORTED', reason: `ONNX Runtime cannot run the model: ${text.split('\n')[0] ?? text}` };
  }
}
