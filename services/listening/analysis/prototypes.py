"""Example sentences per intent for the quality tier (written by the Rapport project, English only).

Generic customer-talk examples, not taken from the evaluation set; the multilingual embedding model
carries them across languages. `scripts/train_analysis.py` embeds them into the committed heads file.
"""

from __future__ import annotations

PROTOTYPES: dict[str, list[str]] = {
    "purchase_intent": [
        "I want to buy this, how much does it cost?",
        "Where can I purchase one?",
        "Is this product in stock? I'd like to order it.",
        "What is the price of the premium plan? I'm ready to sign up.",
        "When do pre-orders open? I'm definitely getting one.",
        "I'm thinking about switching to your service, what deals do you have?",
        "Can I upgrade my subscription to the bigger plan?",
        "Is there a discount if I buy two?",
        "Which model should I buy for my needs?",
        "I'd love to get this as a gift, do you sell vouchers?",
    ],
    "complaint": [
        "My order never arrived and nobody is answering my messages.",
        "The app keeps crashing, this is unacceptable.",
        "I was charged twice and still have no refund.",
        "Terrible service, I have been waiting for weeks.",
        "The product broke after one day, very disappointed.",
        "Your customer support is useless, they hung up on me.",
        "The internet has been down all day and no one fixes it.",
        "Great, another delay. Thanks for nothing.",
        "I cancelled because the prices keep going up and the quality is worse.",
        "The delivery was damaged and the courier was rude.",
    ],
    "question": [
        "How do I reset my password?",
        "What are your opening hours on weekends?",
        "Do you deliver to other countries?",
        "Can someone explain how this feature works?",
        "Is the service down for anyone else?",
        "Where do I find my invoice in the app?",
        "What is the difference between these two options?",
        "Does this work with my phone?",
        "How long does shipping usually take?",
        "Who should I contact about my account settings?",
    ],
    "praise": [
        "Thank you so much, your team was incredibly helpful!",
        "Best service I have ever had, highly recommend.",
        "I love this product, it works perfectly.",
        "Huge thanks to the staff, they were so friendly.",
        "The new update is fantastic, great job!",
        "Amazing quality and super fast delivery.",
        "Really impressed with how quickly you solved my problem.",
        "Five stars, you made my day.",
        "The coffee here is delicious, my favourite place.",
        "Well done, the support agent was patient and kind.",
    ],
    "other": [
        "The company announced its quarterly results today.",
        "A new store is opening in the city centre next month.",
        "Watching the game tonight with friends.",
        "It's raining again this morning.",
        "See you all at the conference next week.",
        "The new advert is on TV all the time.",
        "Traffic is heavy on the main road today.",
        "Just had lunch with my colleagues.",
        "The firm plans to expand its network to more towns this year.",
        "Happy Friday everyone!",
    ],
}
