// Validate prometheus-operator objects (JSON array of {label, object} on stdin)
// against the schemas of the npm package @kubernetes-models/prometheus-operator.
// Its compiled validators accept unknown fields, so field names are also
// checked against the package's own type declarations: a misspelt field fails.
// Usage: node validate-prometheus-operator.mjs NODE_MODULES_DIR
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const v1 = join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1");

// Declared property names of a type, from its .d.ts file.
function fields(type) {
  const text = readFileSync(join(v1, `${type}.d.ts`), "utf8");
  const body = text.slice(text.indexOf("export interface"));
  const names = [...body.matchAll(/^ {4}"([^"]+)"\??:/gm)].map((m) => m[1]);
  if (names.length === 0) throw new Error(`no fields found for ${type}`);
  return new Set(names);
}

// Where to check field names: path of nested objects -> declaring type.
const shapes = {
  ServiceMonitor: [
    [[], "ServiceMonitor"],
    [["spec"], "ServiceMonitorSpec"],
    [["spec", "endpoints", "*"], "Endpoint"],
  ],
  PrometheusRule: [
    [[], "PrometheusRule"],
    [["spec"], "PrometheusRuleSpec"],
    [["spec", "groups", "*"], "RuleGroup"],
    [["spec", "groups", "*", "rules", "*"], "Rule"],
  ],
};

function at(value, path) {
  if (path.length === 0) return [value];
  const [head, ...rest] = path;
  if (head === "*") return (Array.isArray(value) ? value : []).flatMap((item) => at(item, rest));
  return value && typeof value === "object" && head in value ? at(value[head], rest) : [];
}

const input = JSON.parse(readFileSync(0, "utf8"));
const failures = [];
for (const { label, object } of input) {
  const kind = object.kind;
  if (!(kind in shapes)) {
    failures.push(`${label}: no schema for ${object.apiVersion} ${kind}`);
    continue;
  }
  const module = await import(pathToFileURL(join(v1, `${kind}.js`)).href);
  try {
    new module[kind](object).validate();
  } catch (error) {
    failures.push(`${label}: ${error.message}`);
  }
  for (const [path, type] of shapes[kind]) {
    const known = fields(type);
    for (const value of at(object, path)) {
      for (const key of Object.keys(value ?? {})) {
        if (!known.has(key)) failures.push(`${label}: ${[...path, key].join(".")}: unknown field of ${type}`);
      }
    }
  }
}
if (failures.length > 0) {
  console.log(failures.join("\n"));
  process.exit(1);
}
console.log(`${input.length} prometheus-operator objects valid`);
