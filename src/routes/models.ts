// GET /v1/models and GET /v1/models/{id}: the default model and every model with its own price in
// effect (admin-set or synced from a catalog), in OpenAI's list and object formats, each under the id
// clients must send: a model priced under a configured upstream's provider is listed with that
// upstream's prefix (`local/qwen`). Ids contain `/` and `:` (`openai/gpt-oss-120b:groq`). A synced
// `<id>:<provider>` also lists its bare `<id>`: the router then picks the provider, and the request is
// priced by who served it.
import { Hono } from 'hono';
import { canonicalProvider, modelId } from '../billing/pricing.ts';
import { GatewayError } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { PricingService } from '../services/pricing/pricing.ts';
import type { Route, Upstreams } from '../upstream/upstreams.ts';

export function modelsRoutes({
  defaultModel,
  pricing,
  upstreams,
}: {
  defaultModel: string;
  pricing: PricingService;
  upstreams: Upstreams;
}) {
  /** The upstreams that price under `provider`. */
  const ownersOf = (provider: string): Route[] =>
    upstreams.all.filter((route) => canonicalProvider(route.descriptor.provider) === provider);

  /** The listed ids: the default, then each model whose own price is in effect now. */
  const modelIds = (): Set<string> => {
    const ids = new Set([defaultModel]);
    for (const { provider, modelName, source } of pricing.priceBook.versions()) {
      // listed while its own price is in effect: not once retired, not before effective_from
      if (modelName === 'default') continue;
      if (pricing.priceBook.resolve(provider, modelName).source !== 'db:exact') continue;
      const owners = ownersOf(canonicalProvider(provider));
      const names = source === 'catalog' ? [modelName, modelId(modelName)] : [modelName];
      // the default upstream (or none: a provider no upstream serves, listed as it always was)
      if ((owners.length === 0 || owners.some((o) => o.descriptor.prefix === '')) && modelName.includes('/'))
        for (const name of names) ids.add(name);
      for (const { descriptor } of owners) {
        const { prefix, stripPrefix } = descriptor;
        if (prefix === '') continue;
        for (const name of names) {
          if (stripPrefix) ids.add(`${prefix}${name}`);
          else if (name.startsWith(prefix)) ids.add(name);
        }
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
