"""LangChain ChatOpenAI against the fake server: invoke, stream, max_completion_tokens, stream_usage."""
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI


def chat(server, **kw):
    return ChatOpenAI(base_url=server.base + "/v1", api_key="unused", model="", max_retries=0, **kw)


def test_invoke(server):
    msg = chat(server).invoke([SystemMessage("s"), HumanMessage("red green blue")])
    assert msg.content == "red green blue"
    assert msg.usage_metadata["output_tokens"] == 3


def test_invoke_max_completion_tokens(server):
    msg = chat(server, max_completion_tokens=2).invoke("red green blue")
    assert msg.content == "red green"
    assert msg.response_metadata["finish_reason"] == "length"


def test_stream_with_usage(server):
    chunks = list(chat(server, stream_usage=True).stream("one two three four"))
    assert "".join(c.content for c in chunks) == "one two three four"
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage and usage[-1]["output_tokens"] == 4 and usage[-1]["input_tokens"] == 4


def test_stream_through_sagemaker_path(server):
    llm = ChatOpenAI(base_url=server.base + "/endpoints/my-endpoint/openai/v1", api_key="unused",
                     model="", max_retries=0)
    assert "".join(c.content for c in llm.stream("a b")) == "a b"
