"""Classic Guidance 0.0.64 programs (README and notebook era) run unchanged on the Mock LLM.

Each template below is written the way the 0.0.64 README and notebooks wrote it (after
`import guidance_engine as guidance`); the Mock is scripted so every run is deterministic, and
each test asserts the whole output text, the captured variables and, where it matters, what the
model was asked (prompt ends, inferred stops, select options).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.llms.base import GenRequest, SelectRequest
from guidance_engine.llms.mock import Mock


@pytest.fixture(autouse=True)
def _reset_default_llm() -> Iterator[None]:
    saved = guidance.llm
    yield
    guidance.llm = saved


def gens(llm: Mock) -> list[GenRequest]:
    return [call for call in llm.calls if isinstance(call, GenRequest)]


def selects(llm: Mock) -> list[SelectRequest]:
    return [call for call in llm.calls if isinstance(call, SelectRequest)]


def im(role: str, body: str) -> str:
    """ChatML as the Mock renders a role block."""
    return f"<|im_start|>{role}\n{body}<|im_end|>"


# ---------------------------------------------------------------- README: proverb (streaming)

PROVERB = """Tweak this proverb to apply to model instructions instead.

{{proverb}}
- {{book}} {{chapter}}:{{verse}}

UPDATED
Where there is no guidance{{gen 'rewrite' stop="\\n-"}}
- GPT {{gen 'chapter' stop=":"}}:{{gen 'verse'}}"""


def test_proverb() -> None:
    guidance.llm = Mock({
        "no guidance": ", a model fails,\nbut in an abundance of instructions there is safety.\n-",
        "- GPT ": "11:14",
        ":": "14",
    })
    program = guidance(PROVERB)
    out = program(
        proverb="Where there is no guidance, a people falls,\n"
        "but in an abundance of counselors there is safety.",
        book="Proverbs", chapter=11, verse=14,
    )
    assert str(out) == (
        "Tweak this proverb to apply to model instructions instead.\n\n"
        "Where there is no guidance, a people falls,\n"
        "but in an abundance of counselors there is safety.\n"
        "- Proverbs 11:14\n\n"
        "UPDATED\n"
        "Where there is no guidance, a model fails,\n"
        "but in an abundance of instructions there is safety.\n"
        "- GPT 11:14"
    )
    assert out["rewrite"] == (
        ", a model fails,\nbut in an abundance of instructions there is safety.")
    # gen 'chapter' overwrites the chapter passed in; the original program keeps its inputs.
    assert (out["chapter"], out["verse"], out["book"]) == ("11", "14", "Proverbs")
    assert "rewrite" not in program and str(program) == PROVERB
    assert [r.stop for r in gens(guidance.llm)] == [("\n-",), (":",), ()]


def test_proverb_streams_partial_programs_in_order() -> None:
    llm = Mock({"no guidance": ", a model fails", "- GPT ": "11:14", ":": "14"})
    snapshots = list(guidance(PROVERB, llm=llm)(proverb="P", book="B", chapter=1, verse=2,
                                                 stream=True))
    texts = [snap.text for snap in snapshots]
    assert texts == sorted(texts, key=len)  # each snapshot extends the previous one
    assert texts[-1].endswith("Where there is no guidance, a model fails\n- GPT 11:14")
    # The gen streamed word by word.
    assert any(text.endswith("no guidance, a model") for text in texts)
    assert snapshots[-1].done and not snapshots[0].done


# ---------------------------------------------------------------- README: chat experts

EXPERTS = """
{{#system~}}
You are a helpful and terse assistant.
{{~/system}}

{{#user~}}
I want a response to the following question:
{{query}}
Name 3 world-class experts (past or present) who would be great at answering this?
Don't answer the question yet.
{{~/user}}

{{#assistant~}}
{{gen 'expert_names' temperature=0 max_tokens=300}}
{{~/assistant}}

{{#user~}}
Great, now please answer the question as if these experts had collaborated in writing a joint anonymous answer.
{{~/user}}

{{#assistant~}}
{{gen 'answer' temperature=0 max_tokens=500}}
{{~/assistant}}
"""  # noqa: E501 - the README's long line, kept verbatim


def test_chat_experts() -> None:
    llm = Mock(["Tim Ferriss, David Allen, Cal Newport", "Plan your day and focus."])
    out = guidance(EXPERTS, llm=llm)(query="How can I be more productive?")
    assert str(out) == (
        "\n" + im("system", "You are a helpful and terse assistant.") + "\n\n"
        + im("user", "I want a response to the following question:\n"
             "How can I be more productive?\n"
             "Name 3 world-class experts (past or present) who would be great at answering "
             "this?\nDon't answer the question yet.") + "\n\n"
        + im("assistant", "Tim Ferriss, David Allen, Cal Newport") + "\n\n"
        + im("user", "Great, now please answer the question as if these experts had "
             "collaborated in writing a joint anonymous answer.") + "\n\n"
        + im("assistant", "Plan your day and focus.") + "\n"
    )
    assert out.variables() == {
        "query": "How can I be more productive?",
        "expert_names": "Tim Ferriss, David Allen, Cal Newport",
        "answer": "Plan your day and focus.",
    }
    first, second = gens(llm)
    assert (first.stop, first.max_tokens, second.max_tokens) == (("<|im_end|>",), 300, 500)
    assert first.prompt.endswith("Don't answer the question yet.<|im_end|>\n\n"
                                 "<|im_start|>assistant\n")
    assert second.prompt.startswith(str(out)[:200])  # the whole dialog so far is the prompt


# ---------------------------------------------------------------- README: RPG character JSON

CHARACTER = """The following is a character profile for an RPG game in JSON format.
```json
{
    "description": "{{description}}",
    "name": "{{gen 'name'}}",
    "age": {{gen 'age' pattern='[0-9]+' stop=','}},
    "armor": "{{#select 'armor'}}leather{{or}}chainmail{{or}}plate{{/select}}",
    "weapon": "{{select 'weapon' options=valid_weapons}}",
    "class": "{{gen 'class'}}",
    "mantra": "{{gen 'mantra'}}",
    "strength": {{gen 'strength' pattern='[0-9]+' stop=','}},
    "items": [{{#geneach 'items' num_iterations=3}}
        "{{gen 'this'}}",{{/geneach}}
    ]
}```"""

VALID_WEAPONS = ["sword", "axe", "mace", "spear", "bow", "crossbow"]


def test_rpg_character_json() -> None:
    guidance.llm = Mock({
        '"name": "': 'Flint", "age": 99',
        '"age": ': "23,",
        '"armor": "': "chainmail",
        '"weapon": "': "a sturdy axe",
        '"class": "': 'warrior"',
        '"mantra": "': 'Strike first."',
        '"strength": ': "17,",
        '"': ['rope"', 'torch"', 'bread"'],
    })
    out = guidance(CHARACTER)(description="A quick and nimble fighter.",
                              valid_weapons=VALID_WEAPONS)
    assert str(out) == """The following is a character profile for an RPG game in JSON format.
```json
{
    "description": "A quick and nimble fighter.",
    "name": "Flint",
    "age": 23,
    "armor": "chainmail",
    "weapon": "axe",
    "class": "warrior",
    "mantra": "Strike first.",
    "strength": 17,
    "items": [
        "rope",
        "torch",
        "bread",
    ]
}```"""
    variables = out.variables()
    del variables["valid_weapons"]
    assert variables == {
        "description": "A quick and nimble fighter.", "name": "Flint", "age": "23",
        "armor": "chainmail", "weapon": "axe", "class": "warrior", "mantra": "Strike first.",
        "strength": "17", "items": ["rope", "torch", "bread"],
    }
    # Stops inferred from the quotes around each gen; select saw only the options.
    assert [r.stop for r in gens(guidance.llm)] == [
        ('"',), (",",), ('"',), ('"',), (",",), ('"',), ('"',), ('"',)]
    assert [r.options for r in selects(guidance.llm)] == [
        ("leather", "chainmail", "plate"), tuple(VALID_WEAPONS)]
    assert [r.pattern for r in gens(guidance.llm)][:2] == [None, "[0-9]+"]


def test_rpg_character_with_join_and_sampling_arguments() -> None:
    """The 'guidance acceleration' variant: join=', ' and temperature= on the list items."""
    llm = Mock({'"name": "': 'Ash"', '"': ['knife"', 'map"']})
    template = ('{"id": "{{id}}", "name": "{{gen \'name\'}}", "items": [{{#geneach \'items\' '
                'num_iterations=2 join=\', \'}}"{{gen \'this\' temperature=0.7}}"{{/geneach}}]}')
    out = guidance(template, llm=llm)(id="e1f491f7")
    assert str(out) == '{"id": "e1f491f7", "name": "Ash", "items": ["knife", "map"]}'
    assert out["items"] == ["knife", "map"]
    assert [r.temperature for r in gens(llm)] == [0.0, 0.7, 0.7]
    assert gens(llm)[2].prompt.endswith('"items": ["knife", "')


# ---------------------------------------------------------------- README: anachronism few-shot

ANACHRONISM = """Given a sentence tell me whether it contains an anachronism (i.e. whether it could have happened or not based on the time periods associated with the entities).
----

{{~! display the few-shot examples ~}}
{{~#each examples}}
Sentence: {{this.input}}
Entities and dates:{{#each this.entities}}
{{this.entity}}: {{this.time}}{{/each}}
Reasoning: {{this.reasoning}}
Anachronism: {{this.answer}}
---
{{~/each}}

{{~! place the real question at the end }}
Sentence: {{input}}
Entities and dates:
{{gen "entities"}}
Reasoning:{{gen "reasoning"}}
Anachronism:{{#select "answer"}} Yes{{or}} No{{/select}}"""  # noqa: E501

EXAMPLES = [
    {"input": "I wrote about shakespeare",
     "entities": [{"entity": "I", "time": "present"},
                  {"entity": "Shakespeare", "time": "16th century"}],
     "reasoning": "I can write about Shakespeare because he lived in the past with respect to me.",
     "answer": "No"},
    {"input": "Shakespeare wrote about me",
     "entities": [{"entity": "Shakespeare", "time": "16th century"},
                  {"entity": "I", "time": "present"}],
     "reasoning": "Shakespeare cannot have written about me, because he died before I was born",
     "answer": "Yes"},
]


def test_anachronism_few_shot() -> None:
    llm = Mock({
        "dates:\n": "T-rex: 65 million years ago\nMy dog: present",
        "Reasoning:": " The T-rex died long before dogs lived.",
        "Anachronism:": " Yes",
    })
    out = guidance(ANACHRONISM, llm=llm)(examples=EXAMPLES, input="The T-rex bit my dog")
    assert str(out) == """Given a sentence tell me whether it contains an anachronism (i.e. whether it could have happened or not based on the time periods associated with the entities).
----
Sentence: I wrote about shakespeare
Entities and dates:
I: present
Shakespeare: 16th century
Reasoning: I can write about Shakespeare because he lived in the past with respect to me.
Anachronism: No
---
Sentence: Shakespeare wrote about me
Entities and dates:
Shakespeare: 16th century
I: present
Reasoning: Shakespeare cannot have written about me, because he died before I was born
Anachronism: Yes
---
Sentence: The T-rex bit my dog
Entities and dates:
T-rex: 65 million years ago
My dog: present
Reasoning: The T-rex died long before dogs lived.
Anachronism: Yes"""  # noqa: E501
    assert (out["entities"], out["reasoning"], out["answer"]) == (
        "T-rex: 65 million years ago\nMy dog: present",
        " The T-rex died long before dogs lived.", " Yes")
    # 0.0.64 infers no stop from the next text (it dropped that default), and neither do we
    assert [r.stop for r in gens(llm)] == [(), ()]
    assert selects(llm)[0].options == (" Yes", " No")
    assert out["examples"] == EXAMPLES and out["examples"] is not EXAMPLES


# ---------------------------------------------------------------- README: plan with hidden steps

CREATE_PLAN = """
{{#system~}}
You are a helpful assistant.
{{~/system}}

{{! generate five potential ways to accomplish a goal }}
{{#block hidden=True}}
{{#user~}}
I want to {{goal}}.
{{~! generate potential options ~}}
Can you please generate one option for how to accomplish this?
Please make the option very short, at most one line.
{{~/user}}

{{#assistant~}}
{{gen 'options' n=3 temperature=1.0 max_tokens=500}}
{{~/assistant}}
{{/block}}

{{! generate pros and cons for each option and select the best option }}
{{#block hidden=True}}
{{#user~}}
I want to {{goal}}.

Can you please comment on the pros and cons of each of the following options, and then pick the best option?
---{{#each options}}
Option {{@index}}: {{this}}{{/each}}
---
Please discuss each option very briefly (one line for pros, one for cons), and end by saying Best=X, where X is the best option.
{{~/user}}

{{#assistant~}}
{{gen 'prosandcons' temperature=0.0 max_tokens=500}}
{{~/assistant}}
{{/block}}

{{! generate a plan to accomplish the chosen option }}
{{#user~}}
I want to {{goal}}.
{{~! Create a plan }}
Here is my plan:
{{parse_best prosandcons options}}
Please elaborate on this plan, and tell me how to best accomplish it.
{{~/user}}

{{#assistant~}}
{{gen 'plan' max_tokens=500}}
{{~/assistant}}"""  # noqa: E501


def parse_best(prosandcons: str, options: list[str]) -> str:
    best = int(re.findall(r"Best=(\d+)", prosandcons)[0])
    return options[best]


def test_plan_with_hidden_blocks_n_samples_and_a_python_function() -> None:
    llm = Mock(["Read at night", "Join a club", "Carry a book",
                "Option 0: calm. Option 1: social. Best=1", "Find a club nearby."])
    out = guidance(CREATE_PLAN, llm=llm)(goal="read more books", parse_best=parse_best)
    assert str(out) == (
        "\n" + im("system", "You are a helpful assistant.") + "\n\n\n\n\n\n\n\n\n"
        + im("user", "I want to read more books.\nHere is my plan:\nJoin a club\n"
             "Please elaborate on this plan, and tell me how to best accomplish it.")
        + "\n\n" + im("assistant", "Find a club nearby.")
    )
    assert out["options"] == ["Read at night", "Join a club", "Carry a book"]
    assert (out["prosandcons"], out["plan"]) == (
        "Option 0: calm. Option 1: social. Best=1", "Find a club nearby.")
    first, second, third = gens(llm)
    assert (first.n, first.temperature) == (3, 1.0)
    assert "I want to read more books.Can you please" in first.prompt  # `~` in the comment
    # The first hidden block is gone from the second step's prompt; its options are listed.
    assert "Can you please generate" not in second.prompt
    assert "---\nOption 0: Read at night\nOption 1: Join a club\nOption 2: Carry a book\n---" \
        in second.prompt
    assert "pros and cons" not in third.prompt and third.prompt == str(out)[:-len(
        "Find a club nearby.<|im_end|>")]


# ---------------------------------------------------------------- README: two agents with await

ROLE_SIMULATOR = """
{{#system~}}
You are a helpful assistant
{{~/system}}

{{#user~}}
You will answer the user as {{role}} in the following conversation. At every step, I will provide you with the user input, as well as a comment reminding you of your instructions. Never talk about the fact that you are an AI, even if the user asks you. Always answer as {{role}}.
{{#if first_question}}You can also start the conversation.{{/if}}
{{~/user}}

{{~! The assistant either starts the conversation or not, depending on if this is the first or second agent }}
{{#assistant~}}
Ok, I will follow these instructions.
{{#if first_question}}Let me start the conversation now:
{{role}}: {{first_question}}{{/if}}
{{~/assistant}}

{{~! Then the conversation unrolls }}
{{~#geneach 'conversation' stop=False}}
{{#user~}}
User: {{set 'this.input' (await 'input')}}
Comment: Remember, answer as a {{role}}. Start your utterance with {{role}}:
{{~/user}}

{{#assistant~}}
{{gen 'this.response' temperature=0 max_tokens=300}}
{{~/assistant}}
{{~/geneach}}"""  # noqa: E501


def test_two_agents_talking_through_await_missing_and_geneach() -> None:
    republican_llm = Mock(["Republican: Cut spending.", "Republican: Lower taxes."])
    democrat_llm = Mock(["Democrat: Invest.", "Democrat: Fair taxes."])
    simulator = guidance(ROLE_SIMULATOR)
    republican = simulator(role="Republican", await_missing=True, llm=republican_llm)
    democrat = simulator(role="Democrat", await_missing=True, llm=democrat_llm)
    # `first_question` is missing, so both stop at the `{{#if}}` that reads it.
    assert (republican.waiting_for, democrat.waiting_for) == ("first_question", "first_question")
    rest = ROLE_SIMULATOR.split("{{~/user}}", 1)[1]
    assert str(republican).endswith("{{#if first_question}}You can also start the conversation."
                                    "{{/if}}\n{{~/user}}" + rest)

    question = "What do you think is the best way to stop inflation?"
    republican = republican(input=question, first_question=None)
    assert republican["conversation"] == [
        {"input": question, "response": "Republican: Cut spending."}, {}]
    assert republican.waiting_for == "input"
    democrat = democrat(input=republican["conversation"][-2]["response"].strip("Republican: "),
                        first_question=question)
    republican = republican(input=democrat["conversation"][-2]["response"].replace(
        "Democrat: ", ""))
    democrat = democrat(input=republican["conversation"][-2]["response"].replace(
        "Republican: ", ""))
    assert democrat["conversation"] == [
        {"input": "Cut spending.", "response": "Democrat: Invest."},
        {"input": "Lower taxes.", "response": "Democrat: Fair taxes."},
        {},
    ]
    assert republican["conversation"][:-1] == [
        {"input": question, "response": "Republican: Cut spending."},
        {"input": "Invest.", "response": "Republican: Lower taxes."},
    ]
    assistant = ("<|im_start|>assistant\nOk, I will follow these instructions.\n"
                 "Let me start the conversation now:\nDemocrat: " + question + "<|im_end|>")
    assert assistant in democrat.text
    # `set` is hidden by default (0.0.64's library default), so only "User: " is shown.
    turn = ("\n<|im_start|>user\nUser: \nComment: Remember, answer as a Democrat. Start your "
            "utterance with Democrat:<|im_end|>\n\n<|im_start|>assistant\n{}<|im_end|>")
    assert democrat.text.endswith(assistant + turn.format("Democrat: Invest.")
                                  + turn.format("Democrat: Fair taxes.")
                                  + "\n<|im_start|>user\nUser: ")


# ---------------------------------------------------------------- README: chat agent with geneach

CHAT_AGENT = """{{#system~}}
You are a helpful assistant
{{~/system}}
{{~#geneach 'conversation' stop=False}}
{{#user~}}
{{set 'this.user_text' (await 'user_text') hidden=False}}
{{~/user}}
{{#assistant~}}
{{gen 'this.ai_text' temperature=0 max_tokens=300}}
{{~/assistant}}
{{~/geneach}}"""


def test_chat_agent_keeps_a_placeholder_item_while_waiting() -> None:
    llm = Mock({"hi there<|im_end|>\n<|im_start|>assistant\n": "Hello! How can I help?",
                "life?<|im_end|>\n<|im_start|>assistant\n": "42."})
    program = guidance(CHAT_AGENT, llm=llm)
    first = program(user_text="hi there")
    assert first["conversation"] == [
        {"user_text": "hi there", "ai_text": "Hello! How can I help?"}, {}]
    second = first(user_text="What is the meaning of life?")
    assert second["conversation"] == [
        {"user_text": "hi there", "ai_text": "Hello! How can I help?"},
        {"user_text": "What is the meaning of life?", "ai_text": "42."},
        {},
    ]
    system = im("system", "You are a helpful assistant")
    assert second.text == (
        system + "\n" + im("user", "hi there") + "\n" + im("assistant", "Hello! How can I help?")
        + "\n" + im("user", "What is the meaning of life?") + "\n" + im("assistant", "42.")
        + "\n<|im_start|>user\n"
    )
    # The next turn is still template text, verbatim from the awaiting tag.
    assert str(second) == second.text + CHAT_AGENT[CHAT_AGENT.index("{{set 'this.user_text'"):]
    assert first["conversation"][-1] == {}  # the earlier partial program is unchanged


# ---------------------------------------------------------------- README: template syntax

PEOPLE = ["John", "Mary", "Bob", "Alice"]
IDEAS = [{"name": "truth", "description": "the state of being the case"},
         {"name": "love", "description": "a strong feeling of affection"}]


def test_each_with_comments_and_whitespace_control() -> None:
    prompt = guidance("""List of people:
{{#each people}}- {{this}}
{{~! This is a comment. The ~ removes adjacent whitespace either before or after a tag, depending on where you place it}}
{{/each~}}
List of ideas:
{{#each ideas}}{{this.name}}: {{this.description}}
{{/each}}""")  # noqa: E501
    out = prompt(people=PEOPLE, ideas=IDEAS)
    assert str(out) == ("List of people:\n- John\n- Mary\n- Bob\n- Alice\nList of ideas:\n"
                        "truth: the state of being the case\n"
                        "love: a strong feeling of affection\n")
    assert str(guidance("What is {{example}}?")) == "What is {{example}}?"
    assert str(guidance("What is {{example}}?")(example="truth")) == "What is truth?"


def test_partial_program_included_with_its_variables() -> None:
    prompt1 = guidance("""List of people:
{{#each people}}- {{this}}
{{/each~}}""")
    prompt2 = guidance("""{{>prompt1}}
List of ideas:
{{#each ideas}}{{this.name}}: {{this.description}}
{{/each}}""")
    out = prompt2(prompt1=prompt1, people=PEOPLE, ideas=IDEAS)
    # `~` in the partial only reaches the partial's own text, so its last newline stays.
    assert str(out) == ("List of people:\n- John\n- Mary\n- Bob\n- Alice\n\nList of ideas:\n"
                        "truth: the state of being the case\n"
                        "love: a strong feeling of affection\n")


# ---------------------------------------------------------------- README: select, hidden, n, await

OFFENSIVE = """Is the following sentence offensive? Please answer with a single word, either "Yes", "No", or "Maybe".
Sentence: {{example}}
Answer:{{#select "answer" logprobs='logprobs'}} Yes{{or}} No{{or}} Maybe{{/select}}"""  # noqa: E501


def test_select_block_with_logprobs() -> None:
    llm = Mock(" Maybe")
    out = guidance(OFFENSIVE, llm=llm)(example="I hate tacos")
    assert str(out) == OFFENSIVE.split("{{example}}")[0] + "I hate tacos\nAnswer: Maybe"
    assert out["answer"] == " Maybe"
    assert out["logprobs"] == {" Yes": float("-inf"), " No": float("-inf"), " Maybe": 0.0}
    assert selects(llm)[0].prompt.endswith("Sentence: I hate tacos\nAnswer:")


def test_generate_then_select_in_sequence() -> None:
    llm = Mock({"Response:": " That's too bad! Tacos are great.", "Answer:": " No"})
    out = guidance("""Generate a response to the following email:
{{email}}.
Response:{{gen "response"}}

Is the response above offensive in any way? Please answer with a single word, either "Yes" or "No".
Answer:{{#select "answer" logprobs='logprobs'}} Yes{{or}} No{{/select}}""", llm=llm)(
        email="I hate tacos")
    assert (out["response"], out["answer"]) == (" That's too bad! Tacos are great.", " No")
    assert gens(llm)[0].stop == ()  # as in 0.0.64: the next text is not a stop
    assert str(out).endswith(' "No".\nAnswer: No')


def test_hidden_block_output_is_captured_but_not_seen() -> None:
    llm = Mock({"Response:": " Tacos are great.", "Answer:": " No"})
    out = guidance("""{{#block hidden=True}}Generate a response to the following email:
{{email}}.
Response:{{gen "response"}}{{/block}}
I will show you an email and a response, and you will tell me if it's offensive.
Email: {{email}}.
Response: {{response}}
Is the response above offensive in any way? Please answer with a single word, either "Yes" or "No".
Answer:{{#select "answer" logprobs='logprobs'}} Yes{{or}} No{{/select}}""", llm=llm)(
        email="I hate tacos")
    assert str(out) == (
        "\nI will show you an email and a response, and you will tell me if it's offensive.\n"
        "Email: I hate tacos.\nResponse:  Tacos are great.\n"
        'Is the response above offensive in any way? Please answer with a single word, either '
        '"Yes" or "No".\nAnswer: No'
    )
    assert selects(llm)[0].prompt == str(out)[: -len(" No")]
    assert "Generate a response" not in selects(llm)[0].prompt


def test_gen_n_returns_a_list_and_a_function_aggregates_it() -> None:
    def aggregate(best: list[str]) -> str:
        return "\n".join(["- " + x for x in best])

    llm = Mock([" the sun", " the sand", " the sea"])
    out = guidance("""The best thing about the beach is {{~gen 'best' n=3 temperature=0.7 max_tokens=7 hidden=True}}
{{aggregate best}}""", llm=llm)(aggregate=aggregate)  # noqa: E501
    assert out["best"] == [" the sun", " the sand", " the sea"]
    assert str(out) == "The best thing about the beach is\n-  the sun\n-  the sand\n-  the sea"
    request = gens(llm)[0]
    assert (request.prompt, request.n, request.max_tokens) == (
        "The best thing about the beach is", 3, 7)


def test_token_healing_switch_and_unnamed_gen() -> None:
    llm = Mock("//microsoft.com")
    program = guidance('The link is <a href="http:{{gen max_tokens=10 token_healing=False}}',
                       llm=llm)
    out = program()
    assert (str(out), out.variables()) == ('The link is <a href="http://microsoft.com', {})
    request = gens(llm)[0]
    assert (request.max_tokens, request.token_healing, request.stop) == (10, False, ())
    guidance('The link is <a href="http:{{gen max_tokens=10}}', llm=llm)()
    assert gens(llm)[1].token_healing is None  # the model's default (healing on)


AWAIT_EMAIL = """Generate a response to the following email:
{{email}}.
Response:{{gen "response"}}
{{await 'instruction'}}
{{gen 'updated_response'}}"""


def test_await_pauses_a_streamed_program_and_resumes_it() -> None:
    llm = Mock({"Response:": " Hi!", "Portuguese.\n": "Olá!"})
    prompt = guidance(AWAIT_EMAIL, stream=True, llm=llm)
    *_, partial = prompt(email="Hello there")
    assert (partial.waiting_for, partial["response"]) == ("instruction", " Hi!")
    assert str(partial) == ("Generate a response to the following email:\nHello there.\n"
                            "Response: Hi!\n{{await 'instruction'}}\n{{gen 'updated_response'}}")
    *_, final = partial(instruction="Please translate the response above to Portuguese.")
    assert str(final) == ("Generate a response to the following email:\nHello there.\n"
                          "Response: Hi!\nPlease translate the response above to Portuguese.\n"
                          "Olá!")
    assert final.variables() == {"email": "Hello there", "response": " Hi!",
                                 "updated_response": "Olá!"}


def test_hidden_chat_turn_feeds_a_later_question() -> None:
    llm = Mock({"joke<|im_end|>\n<|im_start|>assistant\n": "Why did the chicken cross?",
                "cross?<|im_end|>\n<|im_start|>assistant\n": "Not very."})
    out = guidance("""{{#system~}}
You are a helpful assistant.
{{~/system}}
{{#block hidden=True~}}
{{#user~}}
Please tell me a joke
{{~/user}}
{{#assistant~}}
{{gen 'joke'}}
{{~/assistant}}
{{~/block~}}
{{#user~}}
Is the following joke funny? Why or why not?
{{joke}}
{{~/user}}
{{#assistant~}}
{{gen 'funny'}}
{{~/assistant}}""", llm=llm)()
    assert str(out) == (
        im("system", "You are a helpful assistant.") + "\n"
        + im("user", "Is the following joke funny? Why or why not?\nWhy did the chicken cross?")
        + "\n" + im("assistant", "Not very.")
    )
    assert (out["joke"], out["funny"]) == ("Why did the chicken cross?", "Not very.")


# ---------------------------------------------------------------- tutorial-style programs


def test_geneach_list_ends_when_the_model_writes_the_stop_text() -> None:
    llm = Mock({"[": "'", "', ": ["'", "]"], "'": ["apples", "pears"]})
    out = guidance("Fruit: [{{#geneach 'items' stop=']'}}'{{gen 'this'}}', {{/geneach}}]",
                   llm=llm)()
    assert (str(out), out["items"]) == ("Fruit: ['apples', 'pears', ]", ["apples", "pears"])
    # asked after each item only: 0.0.64 always generated the first item
    assert [r.options for r in selects(llm)] == [("'", "]")] * 2


def test_set_forms_and_dict_each_with_key() -> None:
    out = guidance("{{set 'greeting' 'Hi'}}{{set {'a': 1, 'b': 2}}}{{greeting}}:"
                   "{{#each scores}} {{@key}}={{this}}{{/each}}{{set 'n' 3 hidden=False}}")(
        scores={"x": 1, "y": 2})
    assert str(out) == "Hi: x=1 y=23"
    assert out.variables() == {"scores": {"x": 1, "y": 2}, "greeting": "Hi", "a": 1, "b": 2,
                               "n": 3}


def test_select_options_list_and_list_append_in_each() -> None:
    llm = Mock(["sword", "bow"])
    out = guidance("{{#each heroes}}{{this}}: {{select 'weapons' options=valid_weapons "
                   "list_append=True}}\n{{/each}}", llm=llm)(
        heroes=["Ann", "Bo"], valid_weapons=VALID_WEAPONS)
    assert (str(out), out["weapons"]) == ("Ann: sword\nBo: bow\n", ["sword", "bow"])


def test_async_mode_program_in_a_running_event_loop() -> None:
    async def main() -> tuple[str, list[str]]:
        program = guidance("Q: {{gen 'a' stop='.'}}.", llm=Mock("yes. no"), async_mode=True)
        out = await program()
        streamed = [snap.text async for snap in program()]
        return str(out), streamed

    text, streamed = asyncio.run(main())
    assert text == "Q: yes."
    # Snapshots as text arrives, then the finished program itself (same text as the last one).
    assert streamed == ["Q: ", "Q: yes", "Q: yes.", "Q: yes."]


def test_module_level_llm_and_program_reuse() -> None:
    guidance.llm = Mock(["first", "second"])
    program = guidance("{{gen 'x'}}!")
    outs: list[Any] = [program(), program()]
    assert [str(o) for o in outs] == ["first!", "second!"]
    assert str(outs[0]()) == "second!"  # calling a finished program runs it again from the start


# ---------------------------------------------------------------- chat notebook: search tool

PRACTICE_ROUND = """{{#user~}}
Who is the CEO of Contoso?
{{~/user}}
{{#assistant~}}
<search>Contoso CEO</search>
{{~/assistant}}
{{#user~}}
Search results: <result>Jane Doe leads Contoso.</result>
{{~/user}}
{{#assistant~}}
Jane Doe is the CEO of Contoso.
{{~/assistant}}
"""

SEARCH_TOOL = """{{#system~}}
You are a helpful assistant.
{{~/system}}
{{#user~}}
Whenever your answer depends on facts, search the web with <search>query</search> first.
{{~/user}}
{{#assistant~}}
Ok, I will do that. Let's do a practice round.
{{~/assistant}}
{{>practice_round}}
{{~#user~}}
{{user_query}}
{{~/user}}
{{#assistant~}}
{{gen "query" stop="</search>"}}{{#if (is_search query)}}</search>{{/if}}
{{~/assistant}}
{{#if (is_search query)}}
{{~#user~}}
Search results: {{#each (search query)}}
<result>
{{this.text}}
</result>{{/each}}
{{~/user}}
{{#assistant~}}
{{gen "answer"}}
{{~/assistant}}
{{~/if}}"""


def test_search_tool_with_a_partial_and_python_functions() -> None:
    searched: list[str] = []

    def search(query: str) -> list[dict[str, str]]:
        searched.append(query)
        return [{"text": "Cherry blossoms bloom at UW Quad."}, {"text": "Also at Kubota."}]

    def is_search(text: str) -> bool:
        return text.startswith("<search>")

    llm = Mock(["<search>Seattle cherry blossoms</search>", "Visit the UW Quad."])
    out = guidance(SEARCH_TOOL, llm=llm)(
        practice_round=guidance(PRACTICE_ROUND), search=search, is_search=is_search,
        user_query="Where are the best cherry blossoms in Seattle?")
    assert out["query"] == "<search>Seattle cherry blossoms"
    assert searched == ["<search>Seattle cherry blossoms"]
    assert out["answer"] == "Visit the UW Quad."
    assert out.text.endswith(
        im("user", "Where are the best cherry blossoms in Seattle?") + "\n"
        + im("assistant", "<search>Seattle cherry blossoms</search>") + "\n"
        + im("user", "Search results: \n<result>\nCherry blossoms bloom at UW Quad.\n</result>"
             "\n<result>\nAlso at Kubota.\n</result>") + "\n"
        + im("assistant", "Visit the UW Quad."))
    # The partial's turns come first; its last newline stays, the caller's `~` strips its own.
    assert "Contoso.<|im_end|>\n<|im_start|>user\nWhere are" in out.text
    assert [r.stop for r in gens(llm)] == [("</search>",), ("<|im_end|>",)]


def test_prefix_operator_calls_from_the_0_0_64_chat_notebooks() -> None:
    program = guidance("{{#each practice}}{{#if (== this.role 'user')}}U:{{else}}A:{{/if}}"
                       "{{this.content}} {{/each}}{{#if (> 3 2)}}gt{{/if}}{{#if (< 3 2)}}lt{{/if}}")
    out = program(practice=[{"role": "user", "content": "hi"},
                            {"role": "assistant", "content": "hello"}])
    assert str(out) == "U:hi A:hello gt"
