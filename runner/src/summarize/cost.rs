//! The estimated cost of a run's model calls (pure, but for reading a price file): input
//! tokens times the input price per million, plus output tokens times the output price, from
//! the entry of the price table whose `model` is the run's model, spelled the same. No entry,
//! or none for that model, gives no estimate — `estimated: null` with the reason — never a
//! made-up number.
//!
//! The table is the profile's `stages.summarize.prices`, or on a laptop a JSON file
//! (`--prices FILE`): a list of `{model, inputPerMillionTokens, outputPerMillionTokens,
//! currency?}` (or `{"prices": [...]}`), the prices as numbers or decimal strings.

use std::path::Path;

use gitview_crds::v1alpha1::ModelPrice;

use super::{SummarizeError, TokenUsage};
use crate::analysis_json::CostEstimate;

/// The estimate of `usage` on `model` with `prices`.
pub fn estimate(model: &str, usage: TokenUsage, prices: &[ModelPrice]) -> CostEstimate {
    let no_estimate = |reason: String| CostEstimate {
        estimated: None,
        price: None,
        reason: Some(reason),
    };
    if prices.is_empty() {
        return no_estimate(
            "no price table (the profile's stages.summarize.prices, or --prices FILE)".into(),
        );
    }
    let Some(price) = prices.iter().find(|p| p.model == model) else {
        return no_estimate(format!(
            "the price table has no entry for the model {model:?}"
        ));
    };
    let (Some(input), Some(output)) = (
        decimal(&price.input_per_million_tokens),
        decimal(&price.output_per_million_tokens),
    ) else {
        return no_estimate(format!("the price of {model:?} is not a decimal number"));
    };
    let cost = (usage.prompt_tokens as f64 * input + usage.completion_tokens as f64 * output)
        / 1_000_000.0;
    CostEstimate {
        estimated: Some((cost * 1_000_000.0).round() / 1_000_000.0),
        price: Some(price.clone()),
        reason: None,
    }
}

/// A non-negative decimal (`3`, `0.25`); `None` for anything else.
fn decimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    plain.then(|| text.parse().ok()).flatten()
}

/// Reads a price file (see the module's documentation); an unreadable or malformed file is a
/// configuration error naming it.
pub fn read_prices(path: &Path) -> Result<Vec<ModelPrice>, SummarizeError> {
    let wrong = |why: String| SummarizeError::Config(format!("the price file {path:?}: {why}"));
    let bytes = std::fs::read(path).map_err(|err| wrong(err.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|err| wrong(format!("not JSON: {err}")))?;
    let entries = match &value {
        serde_json::Value::Array(entries) => entries,
        serde_json::Value::Object(map) => match map.get("prices") {
            Some(serde_json::Value::Array(entries)) => entries,
            _ => return Err(wrong("no \"prices\" list".into())),
        },
        _ => return Err(wrong("not a list of prices".into())),
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            price_entry(entry).map_err(|why| wrong(format!("entry {}: {why}", i + 1)))
        })
        .collect()
}

fn price_entry(entry: &serde_json::Value) -> Result<ModelPrice, String> {
    let text = |name: &str| -> Result<String, String> {
        match entry.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("no {name}")),
        }
    };
    let price = |name: &str| -> Result<String, String> {
        let value = text(name)?;
        decimal(&value)
            .map(|_| value.clone())
            .ok_or_else(|| format!("{name} {value:?} is not a non-negative decimal"))
    };
    let model = text("model")?;
    if model.is_empty() {
        return Err("an empty model".into());
    }
    Ok(ModelPrice {
        model,
        input_per_million_tokens: price("inputPerMillionTokens")?,
        output_per_million_tokens: price("outputPerMillionTokens")?,
        currency: match entry.get("currency") {
            None => "USD".into(),
            Some(_) => text("currency")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(model: &str, input: &str, output: &str) -> ModelPrice {
        ModelPrice {
            model: model.into(),
            input_per_million_tokens: input.into(),
            output_per_million_tokens: output.into(),
            currency: "USD".into(),
        }
    }

    fn usage(input: u64, output: u64) -> TokenUsage {
        TokenUsage {
            prompt_tokens: input,
            completion_tokens: output,
            total_tokens: input + output,
        }
    }

    #[test]
    fn the_cost_is_the_tokens_times_the_models_price() {
        let prices = [price("other", "1", "1"), price("claude-x", "3", "15")];
        let cost = estimate("claude-x", usage(12_000, 2_000), &prices);
        // 12,000 × 3 / 1e6 + 2,000 × 15 / 1e6 = 0.036 + 0.03.
        assert_eq!(cost.estimated, Some(0.066));
        assert_eq!(
            cost.price.as_ref().map(|p| p.model.as_str()),
            Some("claude-x")
        );
        assert_eq!(cost.reason, None);
        let cheap = estimate("m", usage(1, 1), &[price("m", "0.25", "1.25")]);
        assert_eq!(cheap.estimated, Some(0.000002));
    }

    #[test]
    fn no_price_means_no_number_and_a_reason() {
        let none = estimate("m", usage(10, 10), &[]);
        assert_eq!(none.estimated, None);
        assert!(none.reason.unwrap().contains("no price table"));
        let other = estimate(
            "claude-x-2025",
            usage(10, 10),
            &[price("claude-x", "3", "15")],
        );
        assert_eq!(other.estimated, None);
        assert!(other.reason.unwrap().contains("\"claude-x-2025\""));
        let bad = estimate("m", usage(10, 10), &[price("m", "3e2", "1")]);
        assert_eq!(bad.estimated, None);
        assert!(bad.reason.unwrap().contains("not a decimal"));
    }

    #[test]
    fn price_files_take_numbers_or_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.json");
        std::fs::write(
            &path,
            r#"[{"model": "a", "inputPerMillionTokens": 3, "outputPerMillionTokens": "15"},
                {"model": "b", "inputPerMillionTokens": 0.25, "outputPerMillionTokens": 1.25, "currency": "EUR"}]"#,
        )
        .unwrap();
        let prices = read_prices(&path).unwrap();
        assert_eq!(prices[0], price("a", "3", "15"));
        assert_eq!(prices[1].input_per_million_tokens, "0.25");
        assert_eq!(prices[1].currency, "EUR");
        std::fs::write(&path, r#"{"prices": [{"model": "a", "inputPerMillionTokens": -1, "outputPerMillionTokens": 1}]}"#).unwrap();
        let err = read_prices(&path).unwrap_err().to_string();
        assert!(
            err.contains("prices.json") && err.contains("entry 1"),
            "{err}"
        );
        let missing = read_prices(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none.json"), "{missing}");
    }
}
