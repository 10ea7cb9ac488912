// GET /v1/models: the default model and every model with its own price, in OpenAI's list format.
import { Hono } from 'hono';
import type { AppEnv } from '../middleware/context.ts';
import type { PricingService } from '../services/pricing.ts';

export function modelsRoutes({ defaultModel, pricing }: { defaultModel: string; pricing: PricingService }) {
  return new Hono<AppEnv>().get('/models', function listModels(c) {
    const ids = new Set([defaultModel]);
    for (const version of pricing.priceBook.versions()) {
      if (version.modelName.includes('/') && !version.retired) ids.add(version.modelName);
    }
    return c.json({
      object: 'list',
      data: [...ids].map((id) => ({
        id,
        object: 'model',
        created: 0,
        owned_by: id.split('/')[0] ?? 'huggingface',
      })),
    });
  });
}
