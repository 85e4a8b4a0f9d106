# A terse adaptor (no pipe() in front): split the text into sentences and send each as a
# server-sent event as soon as it is ready, ending with the event "id: [DONE]".
kwarg("text").sentences().each(lambda s: {"sentence": s, "words": len(s.split())}).sse()
