

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


def test_every_request_a_template_makes_carries_its_structured_prompt() -> None:
    """gen, select, geneach's end-of-list probe and its single call all go through the request
    builder, so each request holds the prompt as segments (role and provenance)."""
    import guidance_engine as guidance
    from guidance_engine.llms.base import GenRequest, SelectRequest

    llm = guidance.llms.Mock(["Ann", "plate", "x", "y"])
    program = guidance(
        "{{#user}}Hi {{who}}{{/user}}{{#assistant}}{{gen 'name'}}{{/assistant}}"
        "{{select 'armor' options=['leather', 'plate']}}"
        "{{#geneach 'items' max_iterations=3 stop='.'}}- {{gen 'this' stop='\\n'}}\n{{/geneach}}"
        "{{#geneach 'more' single_call=True num_iterations=1}}{{gen 'this'}}{{/geneach}}",
        llm=llm)
    program(who="Bob")
    kinds = {type(call) for call in llm.calls}
    assert kinds == {GenRequest, SelectRequest}
    for call in llm.calls:
        assert call.segments and "".join(s.text for s in call.segments) == call.prompt
    first = llm.calls[0].segments
    assert [(s.text, s.kind, s.role) for s in first if s.kind == "value"] == [
        ("Bob", "value", "user")]
