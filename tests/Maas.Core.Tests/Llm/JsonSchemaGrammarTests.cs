using System.Text.Json;
using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class JsonSchemaGrammarTests
{
    private static GbnfRecognizer Compile(string schema) =>
        new(JsonSchemaGrammar.FromSchema(JsonDocument.Parse(schema).RootElement));

    private const string Person = """
        {
          "type": "object",
          "properties": {
            "name": {"type": "string", "maxLength": 8},
            "age": {"type": "integer"},
            "height": {"type": "number"},
            "admin": {"type": "boolean"},
            "nick": {"type": ["string", "null"]},
            "role": {"enum": ["user", "owner", 3, null]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "address": {
              "type": "object",
              "properties": {"city": {"type": "string"}, "zip": {"type": "string", "minLength": 2, "maxLength": 5}},
              "required": ["city"],
              "additionalProperties": false
            }
          },
          "required": ["name", "age"],
          "additionalProperties": false
        }
        """;

    [Theory]
    [InlineData("""{"name":"Ann","age":3}""")]
    [InlineData("""{"name":"","age":-12,"height":1.5e3}""")]
    [InlineData("""{ "name": "Ann", "age": 0, "admin": true, "nick": null }""")]
    [InlineData("""{"name":"Ann","age":1,"nick":"x","role":"owner","tags":["a","b"]}""")]
    [InlineData("{\n  \"name\": \"A\\\"b\",\n  \"age\": 7,\n  \"role\": 3,\n  \"address\": {\"city\": \"Oslo\", \"zip\": \"0150\"}\n}")]
    [InlineData("""{"name":"Ann","age":1,"role":null,"tags":[]}""")]
    [InlineData("""{"name":"\u00e9t\u00e9","age":1}""")]
    public void Valid_documents_are_sentences_of_the_grammar(string json)
    {
        Assert.True(Compile(Person).Accepts(json), json);
    }

    [Theory]
    [InlineData("""{"age":3}""")] // missing required
    [InlineData("""{"age":3,"name":"Ann"}""")] // members in schema order only
    [InlineData("""{"name":"Ann","age":3.5}""")] // integer
    [InlineData("""{"name":"Ann","age":01}""")] // leading zero
    [InlineData("""{"name":"too long name","age":3}""")] // maxLength
    [InlineData("""{"name":"Ann","age":3,"role":"admin"}""")] // enum
    [InlineData("""{"name":"Ann","age":3,"tags":["a","b","c","d"]}""")] // maxItems
    [InlineData("""{"name":"Ann","age":3,"extra":1}""")] // additionalProperties false
    [InlineData("""{"name":"Ann","age":3,"address":{"zip":"12"}}""")] // nested required
    [InlineData("""{"name":"Ann","age":3,"address":{"city":"x","zip":"1"}}""")] // minLength
    [InlineData("""{"name":"Ann","age":3,}""")] // trailing comma
    [InlineData("{\"name\":\"A\nb\",\"age\":3}")] // raw control character
    [InlineData("""{"name":"Ann","age":3} x""")]
    public void Invalid_documents_are_rejected_by_the_grammar(string json)
    {
        Assert.False(Compile(Person).Accepts(json), json);
    }

    [Fact]
    public void Object_with_only_optional_members_allows_any_subset_in_order()
    {
        var g = Compile("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}}}""");
        foreach (var ok in new[] { "{}", """{"a":1}""", """{"b":1}""", """{"c":1}""", """{"a":1,"c":2}""", """{"b":1,"c":2}""", """{"a":1,"b":2,"c":3}""" })
        {
            Assert.True(g.Accepts(ok), ok);
        }

        foreach (var bad in new[] { """{,"a":1}""", """{"a":1,}""", """{"c":1,"a":2}""", """{"a":1,"a":1}""" })
        {
            Assert.False(g.Accepts(bad), bad);
        }
    }

    [Fact]
    public void Additional_properties_schema_makes_a_map()
    {
        var g = Compile("""{"type":"object","additionalProperties":{"type":"number"}}""");
        Assert.True(g.Accepts("{}"));
        Assert.True(g.Accepts("""{"x":1,"y":2.5}"""));
        Assert.False(g.Accepts("""{"x":"1"}"""));
    }

    [Fact]
    public void Arrays_respect_min_and_max_items()
    {
        var g = Compile("""{"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2}""");
        Assert.False(g.Accepts("[]"));
        Assert.True(g.Accepts("[true]"));
        Assert.True(g.Accepts("[true, false]"));
        Assert.False(g.Accepts("[true,false,true]"));
    }

    [Fact]
    public void Refs_into_defs_work_including_recursion()
    {
        var g = Compile("""
            {
              "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
              "$ref": "#/$defs/node"
            }
            """);
        Assert.True(g.Accepts("""{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]}"""));
        Assert.False(g.Accepts("""{"v":1,"kids":[{"w":2}]}"""));
    }

    [Fact]
    public void AnyOf_and_const_are_alternatives()
    {
        var g = Compile("""{"anyOf":[{"type":"integer"},{"const":"auto"},{"type":"object","properties":{"k":{"const":true}},"required":["k"]}]}""");
        Assert.True(g.Accepts("42"));
        Assert.True(g.Accepts("\"auto\""));
        Assert.True(g.Accepts("""{"k":true}"""));
        Assert.False(g.Accepts("\"manual\""));
        Assert.False(g.Accepts("""{"k":false}"""));
    }

    [Fact]
    public void Any_json_object_grammar_accepts_nested_json_and_rejects_other_values()
    {
        var g = new GbnfRecognizer(JsonSchemaGrammar.AnyJsonObject());
        Assert.True(g.Accepts("""{"a":[1,2,{"b":null}],"c":"d","e":-1.25E+2,"f":false}"""));
        Assert.True(g.Accepts("{}"));
        Assert.False(g.Accepts("[1]"));
        Assert.False(g.Accepts("\"text\""));
        Assert.False(g.Accepts("""{"a":}"""));
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"^a+$"}""", "pattern")]
    [InlineData("""{"type":"string","format":"date-time"}""", "format")]
    [InlineData("""{"type":"integer","minimum":3}""", "minimum")]
    [InlineData("""{"allOf":[{"type":"integer"}]}""", "allOf")]
    [InlineData("""{"type":"object","properties":{"a":{"not":{"type":"null"}}}}""", "/properties/a")]
    [InlineData("""{"type":"thing"}""", "'thing'")]
    [InlineData("""{"type":"object","properties":{},"required":["ghost"]}""", "ghost")]
    [InlineData("""{"$ref":"https://example.com/schema"}""", "only local references")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "points at nothing")]
    [InlineData("""{"type":"string","minLength":5,"maxLength":2}""", "maxLength")]
    [InlineData("false", "no value")]
    [InlineData("[1]", "JSON object")]
    public void Unsupported_or_malformed_schemas_are_refused_with_the_reason(string schema, string mention)
    {
        var error = Assert.Throws<LlmException>(() => JsonSchemaGrammar.FromSchema(JsonDocument.Parse(schema).RootElement));
        Assert.Equal(LlmErrorKind.InvalidRequest, error.Kind);
        Assert.Equal("response_format.json_schema.schema", error.Param);
        Assert.Contains(mention, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}""", "/$defs/a/$ref", "#/$defs/a -> #/$defs/a")]
    [InlineData("""{"$defs":{"a":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/b"}]},"b":{"type":["string"],"nullable":true,"$ref":"#/$defs/a"}},"type":"array","items":""" +
        """{"$ref":"#/$defs/a"}}""", "/$defs/b/$ref", "#/$defs/a -> #/$defs/b -> #/$defs/a")]
    public void Left_recursion_is_refused_naming_the_cycle(string schema, string path, string cycle)
    {
        var error = Assert.Throws<LlmException>(() => JsonSchemaGrammar.FromSchema(JsonDocument.Parse(schema).RootElement, param: "tools[3].function.parameters"));
        Assert.Equal("tools[3].function.parameters", error.Param);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(cycle, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("'tools[3].function.parameters'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recursion_after_a_brace_or_bracket_is_not_left_recursion()
    {
        var g = Compile("""{"$defs":{"l":{"anyOf":[{"type":"null"},{"type":"array","items":{"$ref":"#/$defs/l"}},{"type":"object","properties":{"n":{"$ref":"#/$defs/l"}}}]}}""" +
            ""","$ref":"#/$defs/l"}""");
        Assert.True(g.Accepts("""[[null,{"n":[]}],{}]"""));
    }

    [Fact]
    public void Annotations_are_ignored_and_rule_names_are_valid_gbnf_names()
    {
        var grammar = JsonSchemaGrammar.FromSchema(JsonDocument.Parse("""
            {"title":"T","description":"d","type":"object","x-extra":1,
             "properties":{"weird name/ü":{"type":"string","description":"x","default":"a"}},"required":["weird name/ü"]}
            """).RootElement);
        var g = new GbnfRecognizer(grammar);
        Assert.All(g.RuleNames, n => Assert.Matches("^[a-zA-Z0-9-]+$", n));
        Assert.True(g.Accepts("""{"weird name/ü":"v"}"""));
        Assert.StartsWith("root ::= ", grammar, StringComparison.Ordinal);
    }

    [Fact]
    public void Literal_escapes_quotes_backslashes_and_controls()
    {
        Assert.Equal("\"a\\\"b\\\\c\\n\\x01\"", JsonSchemaGrammar.Literal("a\"b\\c\n\u0001"));
    }
}
