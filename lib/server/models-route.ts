// GET /v1/models: what the page (page-routes.ts) needs to know before it offers an upload, in one answer that is
// given in every phase: whether the server is ready (and if not, why), and for each model its state, and once it
// serves, its classes and whether it takes images (image-input.ts). The V2 routes say the same in several calls, and
// refuse them all while the server loads; this one is for people's tools, not a protocol.
import type { FastifyInstance } from 'fastify';
import { imagePreprocessing } from './image-input';
import { rolloutGrid } from './rollout-output';

export interface PageModel {
  name: string;
  state: string;
  /** Why it does not serve, when it does not. */
  reason?: string;
  classes?: number;
  /** [C, H, W] of one input sample. */
  input?: number[];
  grid?: [number, number];
  /** Whether /v1/classify takes images for it; `refusal` says why not. */
  images?: boolean;
  refusal?: string;
}

export function registerModelsRoute(app: FastifyInstance): void {
  const lifecycle = app.vitorch;
  app.get('/v1/models', async () => {
    const refusal = lifecycle.refusal();
    const models: PageModel[] = lifecycle.models.index(false).map((entry) => {
      const model: PageModel = { name: entry.name, state: entry.state ?? 'UNAVAILABLE' };
      if (entry.reason) model.reason = entry.reason;
      if (entry.state !== 'READY') return model;
      const served = lifecycle.models.serving(entry.name).model;
      const images = imagePreprocessing(served);
      return {
        ...model,
        classes: served.numClasses,
        input: [...served.sampleShape],
        grid: rolloutGrid(served),
        images: 'preprocessor' in images,
        ...('refusal' in images ? { refusal: images.refusal } : {}),
      };
    });
    return {
      phase: lifecycle.phase,
      ready: lifecycle.ready,
      ...(refusal ? { reason: refusal.message } : {}),
      default: lifecycle.defaultModelName(),
      models,
    };
  });
}
