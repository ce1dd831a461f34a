//! Every embedded prompt decodes, in both languages, at 8 kHz, with speech in it.
use pont_ivr::{Language, Prompt, SAMPLE_RATE};

#[test]
fn every_prompt_decodes_in_both_languages() {
    let mut bytes = 0;
    for lang in Language::ALL {
        for &p in Prompt::ALL {
            bytes += p.wav_bytes(lang).len();
            let w = p
                .audio(lang)
                .unwrap_or_else(|| panic!("{lang} {p:?} does not decode"));
            assert_eq!(w.sample_rate, SAMPLE_RATE);
            let secs = w.len() as f32 / SAMPLE_RATE as f32;
            assert!((0.3..8.0).contains(&secs), "{lang} {p:?}: {secs} s");
            let mut pcm = vec![0i16; w.len()];
            w.decode_into(0, &mut pcm);
            let rms =
                (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
            assert!(rms > 500.0, "{lang} {p:?} is too quiet: rms {rms}");
            assert!(
                pcm.iter().any(|s| s.unsigned_abs() > 8000),
                "{lang} {p:?} has no peaks"
            );
        }
    }
    // 24 sentences in two languages at 8 kB/s come to about 1 MB; a file slipped in as 16-bit
    // PCM or at 44.1 kHz would double it or worse.
    assert!(bytes < 1_500_000, "prompts take {bytes} bytes");
}

#[test]
fn languages_differ_and_parse() {
    assert_ne!(
        Prompt::EnterRoom.wav_bytes(Language::En),
        Prompt::EnterRoom.wav_bytes(Language::Fr)
    );
    assert_eq!("fr-CA".parse::<Language>().unwrap(), Language::Fr);
    assert_eq!("EN".parse::<Language>().unwrap(), Language::En);
    assert!("de".parse::<Language>().is_err());
}
