// The tools the tool-call tests offer the model (OpenAI's function tool objects).

export const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", description: "The city, e.g. Paris" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["city"],
    },
  },
};

export const TIME_TOOL = {
  type: "function",
  function: {
    name: "get_time",
    description: "Get the current time in a time zone",
    parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] },
  },
};
