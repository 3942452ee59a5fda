// Every answer a suite gets through helpers/api.js's call() is checked against GET /openapi.json:
// a success against its route's response schema, an error against the error shape. The schemas
// allow no field they do not list, so a response that changes without its schema fails here,
// in whichever suite first sees it. The spec is fetched once per Jest run (tests/js/global-setup.js).
const fs = require('node:fs');
const path = require('node:path');
const Ajv2020 = require('ajv/dist/2020');
const { tollgate } = require('./paths');

// Where global-setup.js leaves the spec for the suites' processes.
const SPEC_FILE = path.join(path.dirname(tollgate), 'openapi-spec.json');

let loaded;

function load() {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (!fs.existsSync(SPEC_FILE)) return loaded;
  const spec = JSON.parse(fs.readFileSync(SPEC_FILE, 'utf8'));
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'tollgate', components: spec.components });
  const routes = [];
  for (const [template, item] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    for (const [method, operation] of Object.entries(item)) routes.push({ template, pattern, method, operation });
  }
  const validators = new Map();
  const validator = (ref) => {
    if (!validators.has(ref)) validators.set(ref, ajv.getSchema(`tollgate${ref}`));
    return validators.get(ref);
  };
  loaded = { routes, validator };
  return loaded;
}

/** Throws, naming the route and the mismatches, when `body` is not what the spec promises. */
function checkAnswer(method, target, status, contentType, body) {
  const spec = load();
  if (!spec || !(contentType || '').startsWith('application/json')) return;
  const pathname = new URL(target, 'http://x').pathname;
  const route = spec.routes.find((r) => r.method === method.toLowerCase() && r.pattern.test(pathname));
  let ref = '#/components/schemas/Error';
  const failure = route && route.operation.responses.default;
  if (failure && failure.content['application/json']) ref = failure.content['application/json'].schema.$ref;
  if (route && status >= 200 && status < 300) {
    const success = route.operation.responses[String(status)];
    const schema = success && success.content['application/json'] && success.content['application/json'].schema;
    if (!schema || !schema.$ref) {
      throw new Error(`${method} ${route.template} answered ${status}, which its OpenAPI entry does not list`);
    }
    ref = schema.$ref;
  }
  const validate = spec.validator(ref);
  if (!validate(body)) {
    const where = route ? route.template : pathname;
    throw new Error(
      `${method} ${where} answered ${status} outside its OpenAPI schema ${ref}: ` +
        `${JSON.stringify(validate.errors)}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
    );
  }
}

module.exports = { SPEC_FILE, checkAnswer };
