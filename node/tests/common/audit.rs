//! The audit log tests' helpers: history written by a real vault, the log's lines, and what
//! an attacker who can write the file (but not use the KEK) does after editing it.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use sha2::{Digest, Sha256};
use zgvault_node::{
    NodeConfig, Vault,
    custody::{AuditAction, AuditDecision, AuditRecord},
};

/// Releases `from..=to`, refused when odd and allowed when even, written by the vault of
/// `config` through its audit log.
pub fn write_history(config: &NodeConfig, from: u8, to: u8) {
    let vault = Vault::open(config).unwrap();
    for i in from..=to {
        vault
            .audit()
            .append(&AuditRecord {
                action: AuditAction::Release,
                requester: Address::repeat_byte(i),
                file_id: B256::repeat_byte(0x40 + i),
                decision: if i % 2 == 0 {
                    AuditDecision::Allowed
                } else {
                    AuditDecision::Refused {
                        code: "ACCESS_DENIED".into(),
                    }
                },
                request_hash: B256::repeat_byte(0x80 + i),
                note: None,
            })
            .unwrap();
    }
}

/// The configured audit log of `config`.
pub fn audit_path(config: &NodeConfig) -> PathBuf {
    config.data_dir.join(&config.vault.audit_log)
}

/// The log's lines, without their newlines.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes `lines` as the log, each ending in a newline.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// What an attacker with write access to the file does after editing it: renumbers `seq`
/// and recomputes every `prev` as the SHA-256 of the line before, so that the plain hash
/// chain is consistent again. Everything else (including any field they cannot recompute)
/// is left as it was.
pub fn rechain(path: &Path, mut lines: Vec<String>) {
    let mut prev = hex::encode([0u8; 32]);
    for (i, line) in lines.iter_mut().enumerate() {
        let seq_end = line.find(',').unwrap();
        *line = format!("{{\"seq\":{}{}", i + 1, &line[seq_end..]);
        let at = line.find("\"prev\":\"").unwrap() + "\"prev\":\"".len();
        line.replace_range(at..at + 64, &prev);
        prev = hex::encode(Sha256::digest(line.as_bytes()));
    }
    write_lines(path, &lines);
}
