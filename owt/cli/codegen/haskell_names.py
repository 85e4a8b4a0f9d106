"""Names a generated Haskell module must leave alone: the Prelude's (every module imports it),
and those of ``Data.Aeson`` and ``Owt`` (``clients/haskell``) a user's module imports beside it.

The Prelude's are those of ``ghc -e ':browse Prelude'`` (GHC 9.0); a name the Prelude of a later
GHC adds only costs a clash that module's user resolves by hiding it.
"""

from __future__ import annotations

__all__ = ["KEYWORDS", "LOWER", "UPPER"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


KEYWORDS = _names(
    """
    case class data default deriving do else foreign if import in infix infixl infixr
    instance let module newtype of then type where forall mdo rec proc pattern
    """
)

#: Types, classes and constructors.
UPPER = _names(
    """
    Applicative Bool Bounded Char Double EQ Either Enum Eq False FilePath Float Floating
    Foldable Fractional Functor GT IO IOError Int Integer Integral Just LT Left Maybe Monad
    MonadFail Monoid Nothing Num Ord Ordering Rational Read ReadS Real RealFloat RealFrac
    Right Semigroup Show ShowS String Traversable True Word
    Value Object Array Number Null Error Success Result ToJSON FromJSON Key KeyMap Text
    ByteString OwtClient OwtError OwtMethod GET POST SseEvent
    """
)

#: Functions.
LOWER = _names(
    """
    abs acos acosh all and any appendFile asTypeOf asin asinh atan atan2 atanh break ceiling
    compare concat concatMap const cos cosh curry cycle decodeFloat div divMod drop
    dropWhile either elem encodeFloat enumFrom enumFromThen enumFromThenTo enumFromTo error
    errorWithoutStackTrace even exp exponent fail filter flip floatDigits floatRadix
    floatRange floor fmap foldMap foldl foldl1 foldr foldr1 fromEnum fromInteger
    fromIntegral fromRational fst gcd getChar getContents getLine head id init interact
    ioError isDenormalized isIEEE isInfinite isNaN isNegativeZero iterate last lcm length
    lex lines log logBase lookup map mapM mapM_ mappend max maxBound maximum maybe mconcat
    mempty min minBound minimum mod negate not notElem null odd or otherwise pi pred print
    product properFraction pure putChar putStr putStrLn quot quotRem read readFile readIO
    readList readLn readParen reads readsPrec realToFrac recip rem repeat replicate return
    reverse round scaleFloat scanl scanl1 scanr scanr1 seq sequence sequenceA sequence_ show
    showChar showList showParen showString shows showsPrec significand signum sin sinh snd
    span splitAt sqrt subtract succ sum tail take takeWhile tan tanh toEnum toInteger
    toRational traverse truncate uncurry undefined unlines until unwords unzip unzip3
    userError words writeFile zip zip3 zipWith zipWith3
    object toJSON parseJSON encode decode withObject withText withArray withScientific
    withBool eitherDecode fromJSON owt owtJSON owtText owtStream owtEvents owtAt owtStreamAt
    owtEventsAt mkOwtClient withBasicAuth withToken withFields sseJSON decodeOwt jsonBody
    textBody boolBody stringBody unitBody putBS catMaybes fromMaybe
    """
)
