#!/usr/bin/env node
// Compiles the EVM twin with solcjs (standard JSON) into one deterministic artifact.
// Called by scripts/build_contracts.sh, which installs the pinned solc first.
//
//   node compile.js --solc DIR --source FILE --contract NAME --rel PATH --out FILE [--check]
//
// --rel is the source path recorded in the artifact (repo-relative, so the artifact does not
// depend on where the repo is checked out). With --check nothing is written: the exit code
// says whether FILE already equals what this compiler makes (0) or is stale (1).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const EVM_VERSION = 'paris';
const OPTIMIZER = { enabled: true, runs: 200 };

function parseArgs(argv) {
  const args = { check: false };
  for (let i = 0; i < argv.length; i += 1) {
    const key = argv[i];
    if (key === '--check') {
      args.check = true;
    } else if (key.startsWith('--') && i + 1 < argv.length) {
      args[key.slice(2)] = argv[i + 1];
      i += 1;
    } else {
      throw new Error(`unexpected argument: ${key}`);
    }
  }
  for (const required of ['solc', 'source', 'contract', 'rel', 'out']) {
    if (!args[required]) throw new Error(`missing --${required}`);
  }
  return args;
}

function compile(solc, sourceName, sourceText) {
  const input = {
    language: 'Solidity',
    sources: { [sourceName]: { content: sourceText } },
    settings: {
      optimizer: OPTIMIZER,
      evmVersion: EVM_VERSION,
      metadata: { bytecodeHash: 'ipfs' },
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'storageLayout'] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = output.errors || [];
  for (const problem of problems) process.stderr.write(`${problem.formattedMessage}\n`);
  if (problems.some((p) => p.severity === 'error')) throw new Error('solc reported errors');
  return output.contracts[sourceName];
}

function buildArtifact(args) {
  const solc = require(path.resolve(args.solc));
  const sourceBytes = fs.readFileSync(args.source);
  const sourceName = path.basename(args.source);
  const contracts = compile(solc, sourceName, sourceBytes.toString('utf8'));
  const contract = contracts && contracts[args.contract];
  if (!contract) throw new Error(`contract ${args.contract} not found in ${args.source}`);
  const artifact = {
    contractName: args.contract,
    source: {
      path: args.rel,
      sha256: crypto.createHash('sha256').update(sourceBytes).digest('hex'),
    },
    compiler: {
      name: 'solc',
      version: solc.version(),
      evmVersion: EVM_VERSION,
      optimizer: OPTIMIZER,
    },
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    storageLayout: contract.storageLayout,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const text = buildArtifact(args);
  if (args.check) {
    const current = fs.existsSync(args.out) ? fs.readFileSync(args.out, 'utf8') : '';
    if (current !== text) {
      process.stderr.write(`${args.out} is stale: run scripts/build_contracts.sh\n`);
      process.exit(1);
    }
    process.stdout.write(`${args.out} is up to date\n`);
    return;
  }
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  const tmp = `${args.out}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, args.out);
  process.stdout.write(`wrote ${args.out}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`compile.js: ${err.message}\n`);
  process.exit(2);
}
