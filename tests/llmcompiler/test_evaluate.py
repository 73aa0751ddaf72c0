from __future__ import annotations

from guidance_engine.llmcompiler.evaluate import (
    format_comparison,
    format_summary,
    is_correct,
    normalize_answer,
    summarize,
)


def test_answers_match_after_normalisation_and_numbers_within_ten_percent() -> None:
    assert normalize_answer("The  Mariana-Trench!") == "marianatrench"
    assert is_correct("the Mariana Trench.", "Mariana Trench")
    assert is_correct("Yes", "yes") and not is_correct("no", "yes")
    assert is_correct("about 120.5 m", "110.12") and not is_correct("122", "110.12")
    assert is_correct("77,846,500 km2", "77846500")
    assert not is_correct(None, "4") and not is_correct("4 rivers", "Yangtze River")


def record(answer: str | None, label: str, latency: float, tokens: int, replans: int = 0
           ) -> dict[str, object]:
    return {"answer": answer, "label": label, "latency": latency, "replans": replans,
            "usage": {"input_tokens": tokens, "output_tokens": tokens // 10, "model_calls": 3}}


def test_summary_and_side_by_side_ratios() -> None:
    run = summarize({"a": record("4", "4", 1.0, 1000), "b": record("x", "y", 3.0, 3000, 1)})
    base = summarize({"a": record("4", "4", 4.0, 6000), "b": record("y", "y", 6.0, 6000)})
    assert (run.n, run.accuracy, run.latency_mean, run.latency_median) == (2, 0.5, 2.0, 2.0)
    assert (run.latency_std, run.input_tokens, run.replans) == (1.0, 2000, 0.5)
    assert format_summary(run).splitlines()[1:3] == ["accuracy                      50.0%",
                                                     "accuracy 95% CI               9.5%-90.5%"]
    rows = {line[:29].strip(): line[29:].split()
            for line in format_comparison(run, base, ("llmcompiler", "react")).splitlines()}
    assert rows[""] == ["llmcompiler", "react", "ratio", "(baseline", "/", "run)"]
    assert rows["latency mean (s)"] == ["2.00", "5.00", "2.50x"]
    assert rows["latency first question (s)"] == ["1.00", "4.00", "4.00x"]  # cold: the first
    assert rows["latency mean of the rest (s)"] == ["3.00", "6.00", "2.00x"]
    assert rows["input tokens / question"] == ["2000", "6000", "3.00x"]
    # Old stores have no processed count: every input token counts as processed.
    assert rows["processed tokens / question"] == ["2000", "6000", "3.00x"]


def test_processed_tokens_are_reported_next_to_the_tokens_sent() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 10, "model_calls": 3,
             "processed_tokens": 250}
    run = summarize({"a": {"answer": "4", "label": "4", "latency": 1.0, "usage": usage}})
    assert (run.input_tokens, run.processed_tokens) == (1000, 250)
    lines = format_summary(run).splitlines()
    assert lines[lines.index("input tokens / question       1000") + 1] == (
        "processed tokens / question   250")
