// GET /v1/models: the default model and every model with its own price, in OpenAI's list format.
import { Hono } from 'hono';
import type { AppEnv } from '../middleware/context.ts';
import type { PricingService } from '../services/pricing.ts';

export function modelsRoutes({ defaultModel, pricing }: { defaultModel: string; pricing: PricingService }) {
  return new Hono<AppEnv>().get('/models', function listModels(c) {
    const ids = new Set([defaultModel]);
    for (const { provider, modelName } of pricing.priceBook.versions()) {
      // listed while its own price is in effect: not once retired, not before effective_from
      if (modelName.includes('/') && pricing.priceBook.resolve(provider, modelName).source === 'db:exact') {
        ids.add(modelName);
      }
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
