//! MVPIoTProcessor: commits devices' encrypted sensor records on chain, one per task id.
//!
//! Stylus (Rust -> WASM) source. Its EVM twin is `../../evm/MVPIoTProcessor.sol`; both
//! expose the same Solidity ABI and use the same storage layout (see `../../README.md`):
//!
//! ```solidity
//! interface IMVPIoTProcessor {
//!     function submitResult(bytes32 taskId, bytes calldata encryptedResult, bytes32 proofHash) external;
//!     function getResult(bytes32 taskId) external view returns (bytes memory, bytes32, uint256, address);
//!     function resultCount() external view returns (uint256);
//!     event ResultSubmitted(bytes32 indexed taskId, address indexed submitter, bytes32 proofHash, uint256 size);
//!     error TaskAlreadySubmitted(bytes32 taskId);
//! }
//! ```
//!
//! ABI notes:
//! - stylus-sdk camel-cases method names for selectors: `submit_result` -> `submitResult`,
//!   `get_result` -> `getResult`, `result_count` -> `resultCount`.
//! - The payload is `stylus_sdk::abi::Bytes` (Solidity `bytes`). A `Vec<u8>` would be
//!   `uint8[]`, a different selector and encoding: that was the original deployment's ABI
//!   (`../../abi/MVPIoTProcessor.legacy.json`).

// Allow `cargo stylus export-abi` to generate a main function.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
extern crate alloc;

use stylus_sdk::{
    abi::Bytes,
    alloy_primitives::{Address, FixedBytes, U256},
    alloy_sol_types::sol,
    evm,
    prelude::*,
};

sol! {
    /// Emitted once per accepted submission; `size` is the payload length in bytes.
    event ResultSubmitted(
        bytes32 indexed taskId,
        address indexed submitter,
        bytes32 proofHash,
        uint256 size
    );

    /// Reverted with when `taskId` already has a committed result.
    error TaskAlreadySubmitted(bytes32 taskId);
}

/// Errors returned (ABI-encoded as revert data) by the public methods.
#[derive(SolidityError)]
pub enum ProcessorError {
    TaskAlreadySubmitted(TaskAlreadySubmitted),
}

// Storage, in Solidity declaration order: the slots are the EVM twin's.
//   slot 0: results;   record base b = keccak256(taskId . uint256(0))
//           b+0 encrypted_result (bytes), b+1 proof_hash, b+2 timestamp, b+3 submitter
//   slot 1: result_count
sol_storage! {
    #[entrypoint]
    pub struct MVPIoTProcessor {
        /// slot 0
        mapping(bytes32 => TaskResult) results;
        /// slot 1: number of accepted submissions
        uint256 result_count;
    }

    /// One committed record; it exists iff `submitter` is non-zero.
    pub struct TaskResult {
        bytes encrypted_result;
        bytes32 proof_hash;
        uint256 timestamp;
        address submitter;
    }
}

#[public]
impl MVPIoTProcessor {
    /// `submitResult(bytes32,bytes,bytes32)`: commits the record of `task_id`, once.
    pub fn submit_result(
        &mut self,
        task_id: FixedBytes<32>,
        encrypted_result: Bytes,
        proof_hash: FixedBytes<32>,
    ) -> Result<(), ProcessorError> {
        let submitter = self.vm().msg_sender();
        let timestamp = U256::from(self.vm().block_timestamp());
        let size = U256::from(encrypted_result.len());
        {
            let mut record = self.results.setter(task_id);
            if record.submitter.get() != Address::ZERO {
                return Err(ProcessorError::TaskAlreadySubmitted(TaskAlreadySubmitted {
                    taskId: task_id,
                }));
            }
            record.encrypted_result.set_bytes(&encrypted_result);
            record.proof_hash.set(proof_hash);
            record.timestamp.set(timestamp);
            record.submitter.set(submitter);
        }
        let count = self.result_count.get();
        self.result_count.set(count + U256::from(1));
        evm::log(
            self.vm(),
            ResultSubmitted {
                taskId: task_id,
                submitter,
                proofHash: proof_hash,
                size,
            },
        );
        Ok(())
    }

    /// `getResult(bytes32)`: (encryptedResult, proofHash, timestamp, submitter);
    /// all zero (and empty bytes) for an unknown task id.
    pub fn get_result(&self, task_id: FixedBytes<32>) -> (Bytes, FixedBytes<32>, U256, Address) {
        let record = self.results.getter(task_id);
        (
            record.encrypted_result.get_bytes().into(),
            record.proof_hash.get(),
            record.timestamp.get(),
            record.submitter.get(),
        )
    }

    /// `resultCount()`: number of accepted submissions.
    pub fn result_count(&self) -> U256 {
        self.result_count.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use stylus_sdk::{alloy_primitives::address, testing::*};

    const DEVICE: Address = address!("0xD1CE000000000000000000000000000000000001");
    const OTHER: Address = address!("0xD1CE000000000000000000000000000000000002");
    const NOW: u64 = 1_700_000_000;

    fn deployed() -> (TestVM, MVPIoTProcessor) {
        let vm = TestVM::default();
        vm.set_sender(DEVICE);
        vm.set_block_timestamp(NOW);
        let contract = MVPIoTProcessor::from(&vm);
        (vm, contract)
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn submit_then_get_returns_the_record() {
        let (_vm, mut contract) = deployed();
        let task = FixedBytes::<32>::repeat_byte(0x11);
        let proof = FixedBytes::<32>::repeat_byte(0x22);
        let data = payload(400);

        assert!(contract
            .submit_result(task, data.clone().into(), proof)
            .is_ok());

        let (stored, stored_proof, timestamp, submitter) = contract.get_result(task);
        assert_eq!(stored.to_vec(), data);
        assert_eq!(stored_proof, proof);
        assert_eq!(timestamp, U256::from(NOW));
        assert_eq!(submitter, DEVICE);
        assert_eq!(contract.result_count(), U256::from(1));
    }

    #[test]
    fn duplicate_task_id_is_rejected_and_first_record_kept() {
        let (vm, mut contract) = deployed();
        let task = FixedBytes::<32>::repeat_byte(0x33);
        assert!(contract
            .submit_result(task, payload(5).into(), FixedBytes::ZERO)
            .is_ok());

        vm.set_sender(OTHER);
        match contract.submit_result(task, payload(9).into(), FixedBytes::ZERO) {
            Err(ProcessorError::TaskAlreadySubmitted(err)) => assert_eq!(err.taskId, task),
            Ok(()) => panic!("a second submission of the same task id must be rejected"),
        }
        let (stored, _, _, submitter) = contract.get_result(task);
        assert_eq!(stored.to_vec(), payload(5));
        assert_eq!(submitter, DEVICE);
        assert_eq!(contract.result_count(), U256::from(1));
    }

    #[test]
    fn empty_short_and_long_payloads_round_trip() {
        let (_vm, mut contract) = deployed();
        for (i, len) in [0usize, 1, 31, 32, 33, 2048].into_iter().enumerate() {
            let task = FixedBytes::<32>::repeat_byte(0x40 + i as u8);
            assert!(contract
                .submit_result(task, payload(len).into(), FixedBytes::ZERO)
                .is_ok());
            assert_eq!(contract.get_result(task).0.to_vec(), payload(len));
        }
    }

    #[test]
    fn unknown_task_reads_as_empty_record() {
        let (_vm, contract) = deployed();
        let (stored, proof, timestamp, submitter) =
            contract.get_result(FixedBytes::repeat_byte(0x99));
        assert!(stored.is_empty());
        assert_eq!(proof, FixedBytes::ZERO);
        assert_eq!(timestamp, U256::ZERO);
        assert_eq!(submitter, Address::ZERO);
    }
}
