"""Structured output through real clients against the real server (random-weight demo model): the
OpenAI SDK's chat.completions.parse(response_format=Model) returns .parsed, LangChain's
with_structured_output(Model) (default method: json_schema) returns the object, Strands Agents'
structured_output returns the model instance. The models' fields all have bounded instances
(Literal, bool, bounded int, short str), so random weights finish. Thinking is off (extra body):
with it on the constraint would wait for </think>."""
import warnings
from typing import Literal

import openai
from pydantic import BaseModel, Field

EXTRA = {"chat_template_kwargs": {"enable_thinking": False}}


class Weather(BaseModel):
    sky: Literal["sunny", "cloudy", "rain"]
    windy: bool
    celsius: int = Field(ge=-20, le=45)
    town: str = Field(max_length=5)


def check(w):
    assert isinstance(w, Weather), w
    assert -20 <= w.celsius <= 45 and len(w.town) <= 5


def test_openai_sdk_parse(server):
    client = openai.OpenAI(base_url=server.v1, api_key="unused")
    for seed in (1, 2):
        res = client.chat.completions.parse(
            model="demo", messages=[{"role": "user", "content": "Weather in Oslo?"}],
            response_format=Weather, max_tokens=120, seed=seed, extra_body=EXTRA)
        check(res.choices[0].message.parsed)


def test_langchain_with_structured_output(server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=server.v1, api_key="unused", model="demo", max_tokens=120, seed=3,
                     extra_body=EXTRA)
    check(llm.with_structured_output(Weather).invoke("Weather in Oslo?"))


def test_strands_structured_output(server):
    from strands import Agent
    from strands.models.openai import OpenAIModel

    model = OpenAIModel(client_args={"base_url": server.v1, "api_key": "unused"}, model_id="demo",
                        params={"max_tokens": 120, "seed": 4, "extra_body": EXTRA})
    agent = Agent(model=model, callback_handler=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the method is deprecated, not gone
        check(agent.structured_output(Weather, "Weather in Oslo?"))
