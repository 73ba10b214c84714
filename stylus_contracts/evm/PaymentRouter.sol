// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title PaymentRouter (EVM twin): token payments into per-merchant escrow, settled out.
/// @dev Twin of the Stylus program ../wasm_dapps/router/lib.rs: same ABI, events, errors
///      and storage layout:
///        slot 0  address token
///        slot 1  mapping(address => uint256) escrow
///        slot 2  mapping(address => uint256) received   (total ever paid to a merchant)
///        slot 3  mapping(address => uint256) settled    (total ever paid out for it)
///        slot 4  mapping(address => address) settlementAddress
///        slot 5  uint256 paymentCount
///      Token calls are low-level: a failed call bubbles its revert data, a call that does
///      not return the word 1 reverts TokenCallFailed(token), exactly as the program does.
contract PaymentRouter {
    address private token_;
    mapping(address => uint256) private escrow;
    mapping(address => uint256) private received;
    mapping(address => uint256) private settled;
    mapping(address => address) private settlementAddress;
    uint256 private payments;

    event PaymentReceived(
        bytes32 indexed orderRef, address indexed merchant, address indexed payer, uint256 amount
    );
    event Settled(address indexed merchant, address indexed to, uint256 amount);
    event SettlementAddressSet(address indexed merchant, address indexed to);

    error AlreadyInitialized();
    error InvalidToken(address token);
    error InvalidMerchant(address merchant);
    error InvalidSettlementAddress();
    error ZeroAmount();
    error TokenCallFailed(address token);

    function initialize(address newToken) external {
        if (token_ != address(0)) revert AlreadyInitialized();
        if (newToken == address(0)) revert InvalidToken(address(0));
        token_ = newToken;
    }

    function token() external view returns (address) {
        return token_;
    }

    function escrowOf(address merchant) external view returns (uint256) {
        return escrow[merchant];
    }

    function receivedOf(address merchant) external view returns (uint256) {
        return received[merchant];
    }

    function settledOf(address merchant) external view returns (uint256) {
        return settled[merchant];
    }

    function settlementAddressOf(address merchant) external view returns (address) {
        return settlementAddress[merchant];
    }

    function paymentCount() external view returns (uint256) {
        return payments;
    }

    function setSettlementAddress(address to) external {
        if (to == address(0)) revert InvalidSettlementAddress();
        settlementAddress[msg.sender] = to;
        emit SettlementAddressSet(msg.sender, to);
    }

    function pay(address merchant, uint256 amount, bytes32 orderRef) external {
        if (amount == 0) revert ZeroAmount();
        if (merchant == address(0)) revert InvalidMerchant(address(0));
        escrow[merchant] += amount;
        received[merchant] += amount;
        payments += 1;
        _tokenCall(abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount));
        emit PaymentReceived(orderRef, merchant, msg.sender, amount);
    }

    function settle(address merchant) external returns (uint256) {
        uint256 amount = escrow[merchant];
        if (amount == 0) return 0;
        address to = settlementAddress[merchant];
        if (to == address(0)) to = merchant;
        escrow[merchant] = 0;
        settled[merchant] += amount;
        _tokenCall(abi.encodeWithSelector(0xa9059cbb, to, amount));
        emit Settled(merchant, to, amount);
        return amount;
    }

    function _tokenCall(bytes memory data) private {
        (bool ok, bytes memory ret) = token_.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (ret.length < 32 || uint256(bytes32(ret)) != 1) revert TokenCallFailed(token_);
    }
}
