

def test_hidden_each_iterations_do_not_see_each_other() -> None:
    import guidance_engine as guidance

    llm = guidance.llms.Mock("x")
    program = guidance(
        "Q{{#each items hidden=True}} {{this}}:{{gen 'a' list_append=True}}{{/each}}!", llm=llm
    )
    out = program(items=["a", "b"])
    assert [call.prompt for call in llm.calls] == ["Q a:", "Q b:"]
    assert str(out) == "Q!"
    assert out["a"] == ["x", "x"]
