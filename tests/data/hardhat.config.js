// Hardhat 3 config of the project's Hardhat node (tests/nodes.py starts it; scripts/install_hardhat.sh
// copies this file into .tools/hardhat/). ESM, Hardhat 3 style: `hardhat node` serves the
// edr-simulated network named "node". Interval mining (HARDHAT_BLOCK_TIME_MS, default 1000):
// automine collapses under pipelined load as anvil's does. The accounts are Hardhat's
// well-known dev mnemonic ("test test ... junk"), for tests only; HARDHAT_CHAIN_ID sets the
// chain id (default 31337).
const blockTime = Number(process.env.HARDHAT_BLOCK_TIME_MS ?? "1000");
const chainId = Number(process.env.HARDHAT_CHAIN_ID ?? "31337");

const network = {
  type: "edr-simulated",
  chainType: "l1",
  chainId,
  blockGasLimit: 1_000_000_000,
  mining: { auto: blockTime === 0, interval: blockTime === 0 ? 0 : blockTime },
  accounts: {
    mnemonic: "test test test test test test test test test test test junk",
    count: 4,
    accountsBalance: "1000000000000000000000000000000",
  },
};

export default {
  networks: { node: network, default: network },
};
