#!/usr/bin/env node
// A Node.js client of precisionpain.v1 as an integrator writes one: @grpc/grpc-js with @grpc/proto-loader's
// default options (field names camel-cased by protobufjs, enums as numbers, longs as Long objects).
//
//   node recommend.js fields PROTO_ROOT
//       every message of precisionpain.v1 with its fields as protobufjs names them, by field number (JSON)
//   node recommend.js call PROTO_ROOT TARGET CALLS.json
//       CALLS.json is a list of {"method": "Recommend" | "RecommendBatch", "request": {...}}, the request a
//       plain object as an application builds it; prints one JSON line per call, in order: {"response": the
//       answer re-encoded as base64 protobuf bytes} or {"error": {"code": N, "details": "..."}}
//
// PROTO_ROOT is the only include directory: the repository's proto/ folder.
'use strict';

const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PACKAGE = 'precisionpain.v1';
const SERVICE = `${PACKAGE}.RecommendationService`;
const DEADLINE_MS = 30000;

function load(protoRoot) {
  return protoLoader.loadSync(['precisionpain/v1/service.proto'], { includeDirs: [protoRoot] });
}

function fields(protoRoot) {
  const definition = load(protoRoot);
  const out = {};
  for (const [name, entry] of Object.entries(definition)) {
    if (name.startsWith(`${PACKAGE}.`) && entry.type && Array.isArray(entry.type.field)) {
      out[name] = Object.fromEntries(entry.type.field.map((f) => [String(f.number), f.name]));
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function callOnce(client, methods, method, request) {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + DEADLINE_MS);
    client[method](request, { deadline }, (err, response) => {
      if (err) {
        resolve({ error: { code: err.code, details: err.details } });
      } else {
        resolve({ response: methods[method].responseSerialize(response).toString('base64') });
      }
    });
  });
}

async function call(protoRoot, target, callsPath) {
  const definition = load(protoRoot);
  const Service = grpc.loadPackageDefinition(definition).precisionpain.v1.RecommendationService;
  const client = new Service(target, grpc.credentials.createInsecure());
  const calls = JSON.parse(fs.readFileSync(callsPath, 'utf8'));
  try {
    for (const { method, request } of calls) {
      const result = await callOnce(client, definition[SERVICE], method, request);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
  } finally {
    client.close();
  }
}

function main(argv) {
  const [command, ...args] = argv;
  if (command === 'fields' && args.length === 1) {
    fields(args[0]);
  } else if (command === 'call' && args.length === 3) {
    return call(args[0], args[1], args[2]);
  } else {
    process.stderr.write('usage: recommend.js fields PROTO_ROOT | call PROTO_ROOT TARGET CALLS.json\n');
    process.exitCode = 2;
  }
  return Promise.resolve();
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exitCode = 1;
});
