// Drives the official RunPod JavaScript SDK (runpod-sdk) through the dashboard's proxy, as a script would with
// `baseUrl` pointed at the dashboard; prints what each call gave as one JSON object for the Python test to check.
// Usage: node sdk_check.mjs <baseUrl> <token> <endpoint id> <endpoint id with no workers>
import runpodSdk from "runpod-sdk";

const [baseUrl, token, endpointId, coldId] = process.argv.slice(2);
const runpod = runpodSdk(token, { baseUrl });
const endpoint = runpod.endpoint(endpointId);
const cold = runpod.endpoint(coldId);
const results = {};

async function until(check, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const run = await endpoint.run({ input: { prompt: "from js" } });
results.run = run;
results.status = await until(async () => {
  const state = await endpoint.status(run.id);
  return state.completed ? state : null;
}, "the /run job to complete");

results.runSync = await endpoint.runSync({ input: { sync: "js" } });

const streamed = await endpoint.run({ input: { simulate: { stream: 4, interval: 0.05 } } });
results.streamId = streamed.id;
results.chunks = [];
for await (const chunk of endpoint.stream(streamed.id)) {
  results.chunks.push(chunk.output);
}

const queued = await cold.run({ input: { prompt: "never runs" } });
await cold.run({ input: { prompt: "queued" } });
await cold.run({ input: { prompt: "queued" } });
results.cancel = await cold.cancel(queued.id);
results.cancelledId = queued.id;
results.coldHealth = await cold.health();
results.purge = await cold.purgeQueue();
results.health = await endpoint.health();

console.log(JSON.stringify(results));
