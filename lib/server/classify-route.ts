// POST /v1/classify: the route for people and scripts that have an image, not a tensor. The body is the image
// (JPEG, PNG, WebP: Content-Type image/*, application/octet-stream or none) or JSON {"image": base64, "k": n}; the
// answer is the top k labels with softmax probabilities after the model's own preprocessing (the article's shorter
// side resize and centre crop, or ?resize=letterbox). sharp decodes and resizes on libuv's threads, so images of
// the next batch are decoded while the current batch runs; the request then joins the same queue as V2 inference.
// With ?explain=1 the same pass also computes the image's attention rollout (the library's defaults: heads fused by
// their mean, discard ratio 0.9), and the answer gains `explanation`: the picture `vitorch explain` draws (the
// heatmap over the uploaded image, the top class written on it) as base64 PNG, and the rollout grid it was drawn from.
import type { FastifyInstance } from 'fastify';
import { ROLLOUT_DEFAULTS } from '../attention';
import { DataError } from '../data/errors';
import { renderExplanation } from '../explain/overlay';
import { softmaxRows, topK } from '../top-classes';
import { describe } from '../validate';
import { BadRequestError, UnsupportedMediaTypeError } from './errors';
import { imagePreprocessing } from './image-input';
import type { ResolvedServerOptions } from './options';
import { rolloutGrid } from './rollout-output';
import { inferOverHttp } from './submit';

const IMAGE_TYPES = new Set(['image/jpeg', 'image/jpg', 'image/png', 'image/webp', 'application/octet-stream']);
const DEFAULT_K = 5;

interface ClassifyQuery {
  k?: string;
  resize?: string;
  /** Which model, on a server of several; the first one by default. */
  model?: string;
  /** '1' or 'true': add the explanation picture. */
  explain?: string;
}

/** The `explanation` of an answer to ?explain=1. */
export interface ClassifyExplanation {
  /** The picture, PNG, base64. */
  png: string;
  /** The rollout it was drawn from: gridH rows of gridW values, divided by their maximum. */
  grid: number[][];
  gridH: number;
  gridW: number;
  headFusion: string;
  discardRatio: number;
}

export function registerClassifyRoute(app: FastifyInstance, options: ResolvedServerOptions): void {
  app.post<{ Querystring: ClassifyQuery }>('/v1/classify', async (request, reply) => {
    const serving = app.vitorch.serving(request.query.model);
    const { model } = serving;
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const mediaType = String(request.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    let image: Buffer;
    let k: unknown = request.query.k === undefined ? undefined : Number(request.query.k);
    if (mediaType === 'application/json') {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch (error) {
        throw new BadRequestError(`the body is not valid JSON: ${(error as Error).message}`);
      }
      const fields = json as { image?: unknown; k?: unknown };
      if (typeof json !== 'object' || json === null || typeof fields.image !== 'string') {
        throw new BadRequestError(
          `expected {"image": "<base64>"} for the JSON body, received ${describe(fields?.image ?? json)}`,
        );
      }
      if (!/^[A-Za-z0-9+/=_\s-]*$/.test(fields.image)) throw new BadRequestError('the image field is not base64');
      image = Buffer.from(fields.image, 'base64');
      if (fields.k !== undefined) k = fields.k;
    } else if (mediaType === '' || IMAGE_TYPES.has(mediaType)) {
      image = body;
    } else {
      throw new UnsupportedMediaTypeError(
        `expected an image (image/jpeg, image/png, image/webp) or application/json ` +
          `{"image": base64} for /v1/classify, received Content-Type '${mediaType.slice(0, 60)}'`,
      );
    }
    if (k === undefined) k = Math.min(DEFAULT_K, model.numClasses);
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > model.numClasses) {
      throw new BadRequestError(
        `expected an integer in [1, ${model.numClasses}] for k, received ${describe(request.query.k ?? k)}`,
      );
    }
    const explain = flag(request.query.explain);
    const resize = request.query.resize ?? 'center-crop';
    if (resize !== 'center-crop' && resize !== 'letterbox') {
      throw new BadRequestError(`expected 'center-crop' or 'letterbox' for resize, received ${describe(resize)}`);
    }
    const images = imagePreprocessing(model);
    if ('refusal' in images) throw new BadRequestError(images.refusal);
    const preprocessor = resize === 'letterbox' ? model.letterbox : images.preprocessor;
    if (!preprocessor)
      throw new BadRequestError('resize=letterbox is not available for a model given without its config');
    if (image.length === 0) throw new BadRequestError('the request has no image: expected JPEG, PNG or WebP bytes');

    const started = performance.now();
    let pixels: Float32Array;
    try {
      pixels = await preprocessor.evaluate({ bytes: image, name: 'the image' });
    } catch (error) {
      if (error instanceof DataError) throw new BadRequestError(error.message);
      throw error;
    }
    app.vitorchMetrics.preprocessDuration.observe({ model: model.name }, (performance.now() - started) / 1000);
    const top = k;
    const rollout = explain ? { ...ROLLOUT_DEFAULTS } : undefined;
    const { answer } = await inferOverHttp(serving, request, reply, {
      input: () => ({ input: model.toInput(pixels, 1), samples: 1, timeoutMs: options.timeoutMs, rollout }),
      respond: (logits, _result, values) => ({ top: topK(softmaxRows(logits, 1)[0], top, model.classes), values }),
    });
    const result: Record<string, unknown> = { model_name: model.name, model_version: model.version, top: answer.top };
    if (rollout && answer.values) {
      const [gridH, gridW] = rolloutGrid(model);
      const best = answer.top[0];
      const png = await renderExplanation({
        image,
        rollout: answer.values,
        grid: [gridH, gridW],
        preprocess: preprocessor,
        label: best.label,
        probability: best.probability,
      });
      const explanation: ClassifyExplanation = {
        png: png.toString('base64'),
        grid: Array.from({ length: gridH }, (_, r) => Array.from(answer.values!.subarray(r * gridW, (r + 1) * gridW))),
        gridH,
        gridW,
        ...rollout,
      };
      result.explanation = explanation;
    }
    return result;
  });
}

/** A yes/no query parameter: absent, '0' or 'false' is no; '1', 'true' or empty (?explain) is yes. */
function flag(value: string | undefined): boolean {
  if (value === undefined || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true' || value === '') return true;
  throw new BadRequestError(`expected 1, true, 0 or false for explain, received ${describe(value)}`);
}
