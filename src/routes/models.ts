// GET /v1/models and GET /v1/models/{id}: the default model and every model with its own price
// (admin-set or synced from the router's catalog), in OpenAI's list and object formats. Ids contain
// `/` and `:` (`openai/gpt-oss-120b:groq`). A synced `<id>:<provider>` also lists its bare `<id>`: the
// router then picks the provider, and the request is priced by who served it.
import { Hono } from 'hono';
import { modelId } from '../billing/pricing.ts';
import { GatewayError } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { PricingService } from '../services/pricing/pricing.ts';

export function modelsRoutes({ defaultModel, pricing }: { defaultModel: string; pricing: PricingService }) {
  /** The listed ids: the default, then each model whose own price is in effect now. */
  const modelIds = (): Set<string> => {
    const ids = new Set([defaultModel]);
    for (const { provider, modelName, source } of pricing.priceBook.versions()) {
      // listed while its own price is in effect: not once retired, not before effective_from
      if (modelName.includes('/') && pricing.priceBook.resolve(provider, modelName).source === 'db:exact') {
        ids.add(modelName);
        if (source === 'catalog') ids.add(modelId(modelName));
      }
    }
    return ids;
  };
  const model = (id: string) => ({
    id,
    object: 'model',
    created: 0,
    owned_by: id.split('/')[0] ?? 'huggingface',
  });

  return new Hono<AppEnv>()
    .get('/models', function listModels(c) {
      return c.json({ object: 'list', data: [...modelIds()].map(model) });
    })
    .get('/models/:id{.+}', function getModel(c) {
      const id = c.req.param('id');
      if (!modelIds().has(id)) {
        // OpenAI's own answer for an unknown model
        throw new GatewayError(404, `The model '${id.slice(0, 256)}' does not exist.`, {
          param: 'model',
          code: 'model_not_found',
        });
      }
      return c.json(model(id));
    });
}
