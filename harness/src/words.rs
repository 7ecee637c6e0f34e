//! Rewriting whole words of a text (interface names in a rule, node names in a suite), never parts of words.

/// `text` with every word (a longest run of characters `is_word` accepts) for which `map` gives a replacement
/// replaced by it; everything else as it was. Pure.
pub fn map_words<'a>(text: &str, is_word: impl Fn(char) -> bool, map: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(map(word).unwrap_or(word));
        word.clear();
    };
    for c in text.chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_words_are_replaced() {
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-';
        let map = |w: &str| (w == "eth0").then_some("lan");
        assert_eq!(map_words("eth0 -> eth0, eth0-x eth01 (eth0)", is_word, map), "lan -> lan, eth0-x eth01 (lan)");
        assert_eq!(map_words("", is_word, map), "");
    }
}
