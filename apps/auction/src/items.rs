//! The items on auction: a commented TOML file (`auction.toml`), loaded by
//! every component that needs it and appended to by `fjord auction item add`
//! (appending keeps the user's comments; rewriting through serde would drop
//! them).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AuctionError, Result};
use crate::time;

/// The sample set shipped with Fjord (apps/auction/auction.toml).
pub const SAMPLE: &str = include_str!("../auction.toml");

/// Item names are record keys and URL path segments: keep them to a safe
/// alphabet and a length that fits any key column.
pub const MAX_ITEM_NAME: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub name: String,
    pub description: String,
    pub starting_price: i64,
    /// Closing time, epoch milliseconds (UTC).
    pub closes_at_ms: i64,
}

impl Item {
    pub fn is_open(&self, now_ms: i64) -> bool {
        now_ms < self.closes_at_ms
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    item: Vec<FileItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileItem {
    name: String,
    #[serde(default)]
    description: String,
    starting_price: i64,
    closes_at: Option<String>,
    open_minutes: Option<i64>,
}

/// The items of one file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub items: Vec<Item>,
}

impl Catalog {
    /// Parses the file's text; `open_minutes` counts from `loaded_ms`.
    pub fn parse(text: &str, path: &Path, loaded_ms: i64) -> Result<Catalog> {
        let bad = |message: String| AuctionError::ItemsFile {
            path: path.to_path_buf(),
            message,
        };
        let shape: FileShape = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut items: Vec<Item> = Vec::with_capacity(shape.item.len());
        for it in shape.item {
            let closes_at_ms = match (&it.closes_at, it.open_minutes) {
                (Some(at), None) => time::parse_rfc3339(at).ok_or_else(|| {
                    bad(format!(
                        "item `{}`: closes_at `{at}` is not an RFC 3339 time such as 2030-06-01T18:00:00Z",
                        it.name
                    ))
                })?,
                (None, Some(m)) if (1..=525_600 * 10).contains(&m) => loaded_ms + m * 60_000,
                (None, Some(m)) => {
                    return Err(bad(format!("item `{}`: open_minutes {m} is out of range", it.name)))
                }
                _ => {
                    return Err(bad(format!(
                        "item `{}` needs exactly one of closes_at and open_minutes",
                        it.name
                    )))
                }
            };
            let item = Item {
                name: it.name,
                description: it.description,
                starting_price: it.starting_price,
                closes_at_ms,
            };
            validate_item(&item).map_err(bad)?;
            if items.iter().any(|i| i.name == item.name) {
                return Err(bad(format!("item `{}` is listed twice", item.name)));
            }
            items.push(item);
        }
        Ok(Catalog { items })
    }

    pub fn load(path: &Path) -> Result<Catalog> {
        let text = std::fs::read_to_string(path).map_err(|source| AuctionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Catalog::parse(&text, path, time::now_ms())
    }

    pub fn get(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.name == name)
    }
}

/// The rules every item obeys, whether from the file or `item add`.
pub fn validate_item(item: &Item) -> std::result::Result<(), String> {
    let n = &item.name;
    if n.is_empty() || n.len() > MAX_ITEM_NAME {
        return Err(format!(
            "item name `{n}` must be 1 to {MAX_ITEM_NAME} characters"
        ));
    }
    if !n
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
    {
        return Err(format!(
            "item name `{n}` may hold only letters, digits, '-', '_' and '.'"
        ));
    }
    if !(1..=crate::bid::MAX_PRICE).contains(&item.starting_price) {
        return Err(format!(
            "item `{n}`: starting_price must be between 1 and {}",
            crate::bid::MAX_PRICE
        ));
    }
    if item.description.len() > 2000 {
        return Err(format!("item `{n}`: description is over 2000 bytes"));
    }
    Ok(())
}

/// Makes sure `path` exists: a missing file gets the sample set with every
/// `open_minutes` turned into a fixed `closes_at` from now. Returns whether
/// it was created.
pub fn ensure_file(path: &Path) -> Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let now = time::now_ms();
    let mut out = String::with_capacity(SAMPLE.len());
    for line in SAMPLE.lines() {
        match line
            .strip_prefix("open_minutes = ")
            .and_then(|m| m.trim().parse::<i64>().ok())
        {
            Some(m) => out.push_str(&format!(
                "closes_at = \"{}\"",
                time::rfc3339(now + m * 60_000)
            )),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    write_file(path, &out)?;
    Ok(true)
}

/// Appends one item to the file (created when missing), after checking the
/// result still loads.
pub fn add_item(path: &Path, item: &Item) -> Result<()> {
    validate_item(item).map_err(AuctionError::Item)?;
    let existing = if path.exists() {
        std::fs::read_to_string(path).map_err(|source| AuctionError::Read {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        String::new()
    };
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    text.push_str(&format!(
        "\n[[item]]\nname = {}\ndescription = {}\nstarting_price = {}\ncloses_at = \"{}\"\n",
        quoted(&item.name),
        quoted(&item.description),
        item.starting_price,
        time::rfc3339(item.closes_at_ms)
    ));
    let catalog = Catalog::parse(&text, path, time::now_ms())?;
    if catalog.items.iter().filter(|i| i.name == item.name).count() > 1 {
        return Err(AuctionError::Item(format!(
            "item `{}` already exists",
            item.name
        )));
    }
    write_file(path, &text)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| AuctionError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    // Write then rename, so a website reloading the file never reads half of it.
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| AuctionError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_loads_and_every_item_is_open() {
        let c = Catalog::parse(SAMPLE, Path::new("auction.toml"), 1_000).unwrap();
        assert!(c.items.len() >= 3);
        assert!(c.items.iter().all(|i| i.is_open(1_000)));
    }

    #[test]
    fn ensure_then_add_keeps_comments_and_checks_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auction.toml");
        assert!(ensure_file(&path).unwrap());
        assert!(!ensure_file(&path).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# Each [[item]] has:") && !text.contains("\nopen_minutes"));
        let item = Item {
            name: "lamp".into(),
            description: "A \"brass\" lamp".into(),
            starting_price: 5,
            closes_at_ms: time::now_ms() + 60_000,
        };
        add_item(&path, &item).unwrap();
        let c = Catalog::load(&path).unwrap();
        assert_eq!(c.get("lamp").unwrap().description, "A \"brass\" lamp");
        let err = add_item(&path, &item).unwrap_err().to_string();
        assert!(
            err.contains("listed twice") || err.contains("already exists"),
            "{err}"
        );
    }

    #[test]
    fn bad_items_are_refused_with_reasons() {
        let p = Path::new("x.toml");
        let cases = [
            (
                "[[item]]\nname='a b'\nstarting_price=1\nopen_minutes=1",
                "may hold only",
            ),
            (
                "[[item]]\nname='a'\nstarting_price=0\nopen_minutes=1",
                "starting_price",
            ),
            ("[[item]]\nname='a'\nstarting_price=1", "exactly one"),
            (
                "[[item]]\nname='a'\nstarting_price=1\ncloses_at='soon'",
                "RFC 3339",
            ),
            (
                "[[item]]\nname='a'\nstarting_price=1\nopen_minutes=1\ncolour='red'",
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::parse(text, p, 0).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
