// Throughput with Node's fetch: N GETs, CONCURRENCY in flight, each body decoded.
//   node tests/bench/fetch.mjs URL N CONCURRENCY    prints "rps <requests per second>"
const [url, total, conc] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
let left = total;

async function worker() {
  while (left > 0) {
    left--;
    const res = await fetch(url);
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    const doc = await res.json();
    if (typeof doc.status !== "string") throw new Error("body has no status field");
  }
}

const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: Math.min(conc, total) }, worker));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`rps ${(total / secs).toFixed(1)}`);
