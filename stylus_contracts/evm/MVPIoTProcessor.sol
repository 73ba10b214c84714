// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MVPIoTProcessor (EVM twin)
/// @notice Commits devices' encrypted sensor records on chain, one per task id.
/// @dev EVM twin of the Stylus program in ../stylus/src/lib.rs. The ABI (functions,
///      event, error) and the STORAGE LAYOUT are identical in both, so a client,
///      an indexer or a storage proof cannot tell them apart.
///
///      Storage layout (also in ../README.md, which a no_std WASM build must follow):
///
///        slot 0  mapping(bytes32 => TaskResult) results
///                record base  b = keccak256(taskId . uint256(0))   (32 + 32 bytes)
///                b + 0  encryptedResult  bytes, Solidity encoding:
///                         len <= 31: data left-aligned in slot b, lowest byte = len * 2
///                         len >= 32: slot b = len * 2 + 1, data from keccak256(b) on,
///                                    32 bytes a slot, the last one zero-padded right
///                b + 1  proofHash        bytes32
///                b + 2  timestamp        uint256 (block.timestamp at submission)
///                b + 3  submitter        address (low 20 bytes; high 12 bytes zero)
///        slot 1  uint256 resultCount     number of accepted submissions
///        slot 2  mapping(bytes32 => Batch) batches   (commitBatch: Merkle roots)
///                batch base  c = keccak256(root . uint256(2))
///                c + 0  size (records under the root), c + 1  timestamp, c + 2  submitter
///
///      A record exists iff its submitter is non-zero (msg.sender is never zero).
contract MVPIoTProcessor {
    struct TaskResult {
        bytes encryptedResult;
        bytes32 proofHash;
        uint256 timestamp;
        address submitter;
    }

    /// slot 0
    mapping(bytes32 => TaskResult) private results;
    /// slot 1
    uint256 private count;

    struct Batch {
        uint256 size;
        uint256 timestamp;
        address submitter;
    }

    /// slot 2
    mapping(bytes32 => Batch) private batches;

    /// @notice Emitted once per committed batch: the Merkle root of `size` records.
    event BatchCommitted(bytes32 indexed root, address indexed submitter, uint256 size);

    /// @notice Reverted with when `root` was already committed.
    error BatchAlreadyCommitted(bytes32 root);

    /// @notice Emitted once per accepted submission; `size` is the payload length in bytes.
    event ResultSubmitted(
        bytes32 indexed taskId,
        address indexed submitter,
        bytes32 proofHash,
        uint256 size
    );

    /// @notice Reverted with when `taskId` already has a committed result.
    error TaskAlreadySubmitted(bytes32 taskId);

    /// @notice Commits `encryptedResult` and `proofHash` under `taskId`; each id only once.
    function submitResult(
        bytes32 taskId,
        bytes calldata encryptedResult,
        bytes32 proofHash
    ) external {
        TaskResult storage record = results[taskId];
        if (record.submitter != address(0)) {
            revert TaskAlreadySubmitted(taskId);
        }
        record.encryptedResult = encryptedResult;
        record.proofHash = proofHash;
        record.timestamp = block.timestamp;
        record.submitter = msg.sender;
        unchecked {
            count += 1;
        }
        emit ResultSubmitted(taskId, msg.sender, proofHash, encryptedResult.length);
    }

    /// @notice The committed record of `taskId`; all zero (and empty bytes) when none.
    function getResult(bytes32 taskId)
        external
        view
        returns (
            bytes memory encryptedResult,
            bytes32 proofHash,
            uint256 timestamp,
            address submitter
        )
    {
        TaskResult storage record = results[taskId];
        return (record.encryptedResult, record.proofHash, record.timestamp, record.submitter);
    }

    /// @notice Commits the Merkle root of `size` records (see lcore_node/merkle.py); once.
    function commitBatch(bytes32 root, uint256 size) external {
        Batch storage batch = batches[root];
        if (batch.submitter != address(0)) {
            revert BatchAlreadyCommitted(root);
        }
        batch.size = size;
        batch.timestamp = block.timestamp;
        batch.submitter = msg.sender;
        emit BatchCommitted(root, msg.sender, size);
    }

    /// @notice The committed batch under `root`; all zero when none.
    function getBatch(bytes32 root)
        external
        view
        returns (uint256 size, uint256 timestamp, address submitter)
    {
        Batch storage batch = batches[root];
        return (batch.size, batch.timestamp, batch.submitter);
    }

    /// @notice Number of accepted submissions.
    function resultCount() external view returns (uint256) {
        return count;
    }
}
