// Builds the methods' ModelContext for a model file: loads and probes it once, and turns the
// methods' graphs into ORT sessions on demand, one per graph key, kept until `close()`.
import { DEFAULT_BUDGET_BYTES, type ModelContext } from '../methods/context.js';
import { type GraphRunner } from '../methods/runner.js';
import { type Model, modelToProto } from '../onnx/ir.js';
import { type TensorFacts } from '../onnx/shapes.js';
import { encodeModel } from '../onnx/proto.js';
import { type LoadedModel, loadModel, prepareModel } from './gradient-model.js';
import { Session, type SessionOptions } from './ort.js';

export interface ContextOptions extends SessionOptions {
  inputShape?: number[];
  facts?: TensorFacts;
  input?: string;
  budgetBytes?: number;
  pixelRange?: ModelContext['pixelRange'];
  layout?: ModelContext['layout'];
}

export interface OwnedContext extends ModelContext {
  close(): Promise<void>;
}

export async function openModelContext(path: string, options: ContextOptions = {}): Promise<OwnedContext> {
  const { inputShape, threads, facts, input } = options;
  return contextFor(await loadModel(path, { inputShape, threads, facts, input }), options);
}

/** A context for a model already in memory (tests build tiny graphs this way). */
export async function contextForModel(model: Model, options: ContextOptions = {}): Promise<OwnedContext> {
  return contextFor(await prepareModel(model, { inputShape: options.inputShape, threads: options.threads }), options);
}

function contextFor(loaded: LoadedModel, options: ContextOptions): OwnedContext {
  const sessions = new Map<string, Promise<Session>>();
  const factory = (key: string, build: () => Model): Promise<GraphRunner> => {
    let session = sessions.get(key);
    if (!session) {
      session = Session.create(encodeModel(modelToProto(build())), options);
      sessions.set(key, session);
      // A failed build must not poison the cache.
      session.catch(() => sessions.delete(key));
    }
    return session;
  };
  return {
    ...loaded,
    sessions: factory,
    budgetBytes: options.budgetBytes ?? DEFAULT_BUDGET_BYTES,
    pixelRange: options.pixelRange,
    ...(options.layout ? { layout: options.layout } : {}),
    async close() {
      const all = await Promise.allSettled(sessions.values());
      sessions.clear();
      await Promise.all(all.map((s) => (s.status === 'fulfilled' ? s.value.release() : undefined)));
    },
  };
}
